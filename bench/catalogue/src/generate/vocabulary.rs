//! The fixed lists the data is drawn from: domain words, made-up words,
//! capabilities, tags, authors, organisations and models.

use std::collections::HashSet;

use super::Rng;

/// Real words of the domain, most frequent first in descriptions.
pub const DOMAIN_WORDS: &[&str] = &[
    "agent",
    "data",
    "search",
    "web",
    "summarise",
    "code",
    "review",
    "translate",
    "pdf",
    "email",
    "calendar",
    "finance",
    "sql",
    "report",
    "document",
    "chat",
    "assistant",
    "query",
    "text",
    "image",
    "files",
    "api",
    "github",
    "slack",
    "customer",
    "support",
    "sales",
    "invoice",
    "meeting",
    "notes",
    "research",
    "paper",
    "news",
    "market",
    "stock",
    "crypto",
    "weather",
    "travel",
    "booking",
    "recipe",
    "health",
    "legal",
    "contract",
    "compliance",
    "security",
    "audit",
    "log",
    "monitor",
    "alert",
    "incident",
    "deploy",
    "kubernetes",
    "docker",
    "cloud",
    "aws",
    "azure",
    "database",
    "postgres",
    "mysql",
    "mongo",
    "redis",
    "spreadsheet",
    "excel",
    "csv",
    "json",
    "yaml",
    "markdown",
    "html",
    "scrape",
    "crawl",
    "index",
    "vector",
    "embedding",
    "rag",
    "retrieval",
    "knowledge",
    "graph",
    "wiki",
    "jira",
    "ticket",
    "triage",
    "bug",
    "test",
    "python",
    "rust",
    "javascript",
    "typescript",
    "java",
    "go",
    "refactor",
    "lint",
    "format",
    "explain",
    "debug",
    "optimise",
    "schedule",
    "plan",
    "task",
    "todo",
    "project",
    "manager",
    "hr",
    "recruit",
    "resume",
    "interview",
    "onboarding",
    "marketing",
    "seo",
    "social",
    "twitter",
    "linkedin",
    "blog",
    "write",
    "draft",
    "edit",
    "proofread",
    "grammar",
    "style",
    "tone",
    "speech",
    "audio",
    "transcribe",
    "video",
    "subtitle",
    "voice",
    "podcast",
    "music",
    "photo",
    "design",
    "diagram",
    "chart",
    "dashboard",
    "analytics",
    "metrics",
    "forecast",
    "budget",
    "accounting",
    "tax",
    "payroll",
    "bank",
    "payment",
    "shop",
    "ecommerce",
    "product",
    "catalog",
    "inventory",
    "order",
    "shipping",
    "logistics",
    "supply",
    "vendor",
    "procurement",
    "quote",
    "crm",
    "lead",
    "outreach",
    "newsletter",
    "survey",
    "feedback",
    "sentiment",
    "classify",
    "extract",
    "parse",
    "convert",
    "ocr",
    "scan",
    "receipt",
    "form",
    "fill",
    "sign",
    "archive",
    "backup",
    "sync",
    "migrate",
    "notify",
    "remind",
    "tutor",
    "teach",
    "quiz",
    "learn",
    "study",
    "math",
    "science",
    "medical",
    "clinic",
    "patient",
    "pharmacy",
    "insurance",
    "claim",
    "property",
    "real",
    "estate",
    "energy",
    "solar",
    "climate",
    "map",
    "route",
    "fleet",
    "summary",
    "summariser",
    "translation",
    "translator",
    "transform",
    "trade",
    "trading",
    "reviewer",
    "coder",
    "coding",
    "searcher",
    "emailer",
    "scheduler",
    "planner",
    "writer",
];

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "bel", "dor", "fan", "gri",
    "hul", "jes", "kor", "lan", "mor", "nix", "pol", "ras", "sor", "tam", "ul", "ven", "wex",
    "yar", "zil", "bra", "cle", "dro", "fli", "gro", "pre", "tro", "ska", "sta", "lu",
];

const FIRST_NAMES: &[&str] = &[
    "ada",
    "alan",
    "grace",
    "linus",
    "barbara",
    "ken",
    "dennis",
    "margaret",
    "tim",
    "guido",
    "bjarne",
    "frances",
    "john",
    "edsger",
    "donald",
    "radia",
    "hedy",
    "katherine",
    "claude",
    "niklaus",
    "sophie",
    "yukihiro",
    "james",
    "anders",
    "rob",
];

const LAST_NAMES: &[&str] = &[
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "liskov",
    "thompson",
    "ritchie",
    "hamilton",
    "lee",
    "rossum",
    "stroustrup",
    "allen",
    "mccarthy",
    "dijkstra",
    "knuth",
    "perlman",
    "lamarr",
    "johnson",
    "shannon",
    "wirth",
    "wilson",
    "matsumoto",
    "gosling",
    "hejlsberg",
    "pike",
];

pub(super) const MODELS: &[(&str, &str)] = &[
    ("anthropic", "claude-opus-4"),
    ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-haiku-4"),
    ("openai", "gpt-5"),
    ("openai", "gpt-5-mini"),
    ("openai", "o4"),
    ("google", "gemini-2-pro"),
    ("google", "gemini-2-flash"),
    ("meta", "llama-4-maverick"),
    ("meta", "llama-4-scout"),
    ("mistral", "mistral-large"),
    ("mistral", "codestral"),
    ("cohere", "command-r-plus"),
    ("deepseek", "deepseek-v3"),
    ("deepseek", "deepseek-r1"),
    ("qwen", "qwen3-coder"),
    ("qwen", "qwen3-max"),
    ("xai", "grok-4"),
    ("ollama", "phi-4"),
    ("ollama", "gemma-3"),
];

/// The fixed lists the data is drawn from.
#[derive(Clone, Debug)]
pub struct Vocabulary {
    /// Description words: [`DOMAIN_WORDS`] first, then made-up words.
    pub words: Vec<String>,
    /// About 100 capabilities (`verb-object`).
    pub capabilities: Vec<String>,
    /// About 200 tags.
    pub tags: Vec<String>,
    /// About 500 authors (`Name <email>`).
    pub authors: Vec<String>,
    /// About 1,000 organisations (first repository component).
    pub organisations: Vec<String>,
}

/// Words in the description vocabulary.
const VOCABULARY_WORDS: usize = 3_000;

impl Vocabulary {
    /// The lists for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x766f_6361_6275);
        let mut seen: HashSet<String> = DOMAIN_WORDS.iter().map(|w| (*w).to_owned()).collect();
        let mut words: Vec<String> = DOMAIN_WORDS.iter().map(|w| (*w).to_owned()).collect();
        let made_up = |rng: &mut Rng, seen: &mut HashSet<String>| loop {
            let syllables = rng.between(2, 4);
            let word: String = (0..syllables).map(|_| *rng.pick(SYLLABLES)).collect();
            if seen.insert(word.clone()) {
                return word;
            }
        };
        while words.len() < VOCABULARY_WORDS {
            words.push(made_up(&mut rng, &mut seen));
        }
        let verbs = &DOMAIN_WORDS[..40];
        let objects = &DOMAIN_WORDS[40..120];
        let mut capabilities = Vec::new();
        let mut taken = HashSet::new();
        while capabilities.len() < 100 {
            let capability = format!("{}-{}", rng.pick(verbs), rng.pick(objects));
            if taken.insert(capability.clone()) {
                capabilities.push(capability);
            }
        }
        let tags: Vec<String> = DOMAIN_WORDS
            .iter()
            .take(200)
            .map(|w| (*w).to_owned())
            .collect();
        let mut authors = Vec::new();
        for first in FIRST_NAMES {
            for last in LAST_NAMES.iter().take(20) {
                authors.push(format!("{first} {last} <{first}.{last}@example.com>"));
            }
        }
        let mut organisations = Vec::new();
        let mut orgs_seen = HashSet::new();
        while organisations.len() < 1_000 {
            let org = made_up(&mut rng, &mut seen);
            if orgs_seen.insert(org.clone()) {
                organisations.push(org);
            }
        }
        Vocabulary {
            words,
            capabilities,
            tags,
            authors,
            organisations,
        }
    }
}
