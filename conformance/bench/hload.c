/*
 * hload: a small closed-loop HTTP/1.1 load generator for the benchmark
 * harness (conformance/bench/run.sh), used for manifest HEAD.
 *
 * Why not wrk: wrk 4.1 cannot measure HEAD. Its response parser is never told
 * that a HEAD response has no body, so it waits for the Content-Length bytes
 * that never come and counts zero requests (wg/wrk issue #198).
 *
 * Model (the same as wrk's): C keep-alive connections spread over T threads,
 * each sending one request, waiting for the whole response, and sending the
 * next, for D seconds. Latency is measured from the request's write to the
 * response's last byte, in a histogram with 1 us buckets below 100 ms and
 * 1 ms buckets up to 10 s. Only Content-Length framing is understood (every
 * response the harness measures has one). Targets must be loopback
 * addresses (127.0.0.0/8): the harness never sends traffic elsewhere.
 *
 *   cc -O2 -pthread -o hload hload.c
 *   hload -c 32 -t 2 -d 10 -m HEAD -H 'Accept: ...' http://127.0.0.1:5000/v2/r/manifests/t
 *
 * Prints one JSON object: requests, duration_s, rps, non_2xx, errors,
 * mean_ms, p50_ms, p75_ms, p90_ms, p99_ms, p999_ms, max_ms.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FINE_BUCKETS 100000                  /* 1 us each: 0 .. 100 ms */
#define BUCKETS (FINE_BUCKETS + 9900 + 1)    /* then 1 ms each up to 10 s, then overflow */
#define BUF_SIZE 65536
#define MAX_CONNS 4096
#define MAX_THREADS 64

static struct sockaddr_in target;
static char request[8192];
static size_t request_len;
static int is_head;
static uint64_t deadline_ns;

struct conn {
    int fd;
    size_t len;          /* bytes in buf (headers not yet complete) */
    int in_body;
    uint64_t body_left;
    int status;
    uint64_t started_ns;
    char buf[BUF_SIZE];
};

struct worker {
    pthread_t thread;
    int nconns;
    struct conn *conns;
    uint64_t *hist;
    uint64_t requests, non_2xx, errors, sum_us, max_us;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bucket_of(uint64_t us) {
    if (us < FINE_BUCKETS) return (int)us;
    uint64_t b = FINE_BUCKETS + (us - FINE_BUCKETS) / 1000;
    return b < BUCKETS - 1 ? (int)b : BUCKETS - 1;
}

static uint64_t bucket_us(int b) {
    return b < FINE_BUCKETS ? (uint64_t)b : FINE_BUCKETS + (uint64_t)(b - FINE_BUCKETS) * 1000;
}

static int open_conn(int epfd, struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* A blocking connect: on loopback it completes at once. */
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void close_conn(int epfd, struct conn *c) {
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

/* Sends the request; requests are small, so one write normally takes it all. */
static int send_request(struct conn *c) {
    size_t sent = 0;
    int spins = 0;
    while (sent < request_len) {
        ssize_t n = send(c->fd, request + sent, request_len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
        if (++spins > 1000) return -1;
    }
    c->len = 0;
    c->in_body = 0;
    c->body_left = 0;
    c->status = 0;
    c->started_ns = now_ns();
    return 0;
}

/* Finds the end of the response headers and the body length; 1 if the
 * headers are complete, 0 if more bytes are needed, -1 on a malformed
 * response. */
static int parse_headers(struct conn *c, size_t *header_end, uint64_t *body_len) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return c->len >= BUF_SIZE ? -1 : 0;
    *header_end = (size_t)(end - c->buf) + 4;
    if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) return -1;
    c->status = atoi(c->buf + 9);
    *body_len = 0;
    int have_length = 0;
    for (char *line = memchr(c->buf, '\n', *header_end); line && line < end;
         line = memchr(line + 1, '\n', (size_t)(end - line))) {
        char *name = line + 1;
        if (strncasecmp(name, "content-length:", 15) == 0) {
            *body_len = strtoull(name + 15, NULL, 10);
            have_length = 1;
        } else if (strncasecmp(name, "transfer-encoding:", 18) == 0 && !is_head) {
            return -1; /* chunked framing is not supported */
        }
    }
    if (is_head || c->status == 204 || c->status == 304) *body_len = 0;
    (void)have_length;
    return 1;
}

static void complete(struct worker *w, struct conn *c) {
    uint64_t us = (now_ns() - c->started_ns) / 1000;
    w->hist[bucket_of(us)]++;
    w->requests++;
    w->sum_us += us;
    if (us > w->max_us) w->max_us = us;
    if (c->status < 200 || c->status > 299) w->non_2xx++;
}

static void *run_worker(void *arg) {
    struct worker *w = arg;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) return NULL;
    int live = 0;
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (open_conn(epfd, c) == 0 && send_request(c) == 0) {
            live++;
        } else {
            w->errors++;
            close_conn(epfd, c);
        }
    }
    struct epoll_event events[256];
    while (live > 0 && now_ns() < deadline_ns) {
        int n = epoll_wait(epfd, events, 256, 100);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->fd < 0) continue;
            int failed = 0, done = 0;
            for (;;) {
                char *into = c->in_body ? c->buf : c->buf + c->len;
                size_t room = c->in_body ? BUF_SIZE : BUF_SIZE - c->len;
                ssize_t got = recv(c->fd, into, room, MSG_DONTWAIT);
                if (got < 0 && errno == EINTR) continue;
                if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                if (got <= 0) { failed = 1; break; }
                if (c->in_body) {
                    if ((uint64_t)got > c->body_left) { failed = 1; break; }
                    c->body_left -= (uint64_t)got;
                } else {
                    c->len += (size_t)got;
                    size_t header_end = 0;
                    uint64_t body_len = 0;
                    int parsed = parse_headers(c, &header_end, &body_len);
                    if (parsed < 0) { failed = 1; break; }
                    if (parsed == 0) continue;
                    uint64_t have = c->len - header_end;
                    if (have > body_len) { failed = 1; break; } /* nothing is pipelined */
                    c->in_body = 1;
                    c->body_left = body_len - have;
                }
                if (c->in_body && c->body_left == 0) { done = 1; break; }
            }
            if (done) {
                complete(w, c);
                if (now_ns() >= deadline_ns) {
                    close_conn(epfd, c);
                    live--;
                } else if (send_request(c) < 0) {
                    failed = 1;
                }
            }
            if (failed) {
                w->errors++;
                close_conn(epfd, c);
                /* Reconnect once per failure; give the connection up if that fails. */
                if (now_ns() < deadline_ns && open_conn(epfd, c) == 0 && send_request(c) == 0) continue;
                close_conn(epfd, c);
                live--;
            }
        }
    }
    for (int i = 0; i < w->nconns; i++) close_conn(epfd, &w->conns[i]);
    close(epfd);
    return NULL;
}

static int parse_url(const char *url, char *host, size_t host_size, int *port, const char **path) {
    if (strncmp(url, "http://", 7) != 0) return -1;
    const char *h = url + 7;
    const char *colon = strchr(h, ':');
    const char *slash = strchr(h, '/');
    if (!colon || !slash || colon > slash || (size_t)(colon - h) >= host_size) return -1;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = 0;
    *port = atoi(colon + 1);
    *path = slash;
    return (*port > 0 && *port < 65536) ? 0 : -1;
}

static void usage(void) {
    fprintf(stderr, "usage: hload -c CONNS -t THREADS -d SECONDS [-m METHOD] [-H 'Name: value']... "
                    "http://127.0.0.1:PORT/path\n");
    exit(2);
}

int main(int argc, char **argv) {
    int conns = 32, threads = 2;
    double seconds = 10;
    const char *method = "GET";
    const char *headers[32];
    int nheaders = 0;
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc) conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-d") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) method = argv[++i];
        else if (!strcmp(argv[i], "-H") && i + 1 < argc && nheaders < 32) headers[nheaders++] = argv[++i];
        else if (argv[i][0] != '-' && !url) url = argv[i];
        else usage();
    }
    if (!url || conns < 1 || conns > MAX_CONNS || threads < 1 || threads > MAX_THREADS ||
        seconds <= 0 || seconds > 600)
        usage();
    if (threads > conns) threads = conns;
    char host[256];
    int port;
    const char *path;
    if (parse_url(url, host, sizeof host, &port, &path) < 0) usage();
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1 ||
        (ntohl(target.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "hload: only loopback IPv4 targets (127.0.0.0/8) are allowed\n");
        return 2;
    }
    is_head = !strcasecmp(method, "HEAD");
    int n = snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n", method, path, host, port);
    for (int i = 0; i < nheaders && n > 0 && (size_t)n < sizeof request; i++)
        n += snprintf(request + n, sizeof request - (size_t)n, "%s\r\n", headers[i]);
    if (n <= 0 || (size_t)n + 2 >= sizeof request) usage();
    n += snprintf(request + n, sizeof request - (size_t)n, "\r\n");
    request_len = (size_t)n;

    struct worker *workers = calloc((size_t)threads, sizeof *workers);
    uint64_t started = now_ns();
    deadline_ns = started + (uint64_t)(seconds * 1e9);
    for (int t = 0; t < threads; t++) {
        struct worker *w = &workers[t];
        w->nconns = conns / threads + (t < conns % threads ? 1 : 0);
        w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
        w->hist = calloc(BUCKETS, sizeof *w->hist);
        if (!w->conns || !w->hist) { fprintf(stderr, "hload: out of memory\n"); return 1; }
        for (int i = 0; i < w->nconns; i++) w->conns[i].fd = -1;
        pthread_create(&w->thread, NULL, run_worker, w);
    }
    uint64_t *hist = calloc(BUCKETS, sizeof *hist);
    uint64_t requests = 0, non_2xx = 0, errors = 0, sum_us = 0, max_us = 0;
    for (int t = 0; t < threads; t++) {
        struct worker *w = &workers[t];
        pthread_join(w->thread, NULL);
        for (int b = 0; b < BUCKETS; b++) hist[b] += w->hist[b];
        requests += w->requests;
        non_2xx += w->non_2xx;
        errors += w->errors;
        sum_us += w->sum_us;
        if (w->max_us > max_us) max_us = w->max_us;
    }
    double elapsed = (double)(now_ns() - started) / 1e9;
    double measured = elapsed < seconds ? elapsed : seconds;
    const double wanted[] = {0.50, 0.75, 0.90, 0.99, 0.999};
    double at[5] = {0};
    for (int q = 0; q < 5; q++) {
        uint64_t rank = (uint64_t)(wanted[q] * (double)requests + 0.999999);
        uint64_t seen = 0;
        for (int b = 0; b < BUCKETS; b++) {
            seen += hist[b];
            if (seen >= rank && rank > 0) { at[q] = (double)bucket_us(b) / 1000.0; break; }
        }
    }
    printf("{\"requests\": %llu, \"duration_s\": %.3f, \"rps\": %.1f, \"non_2xx\": %llu, "
           "\"errors\": %llu, \"mean_ms\": %.3f, \"p50_ms\": %.3f, \"p75_ms\": %.3f, "
           "\"p90_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f}\n",
           (unsigned long long)requests, measured, requests / measured,
           (unsigned long long)non_2xx, (unsigned long long)errors,
           requests ? (double)sum_us / (double)requests / 1000.0 : 0.0, at[0], at[1], at[2], at[3],
           at[4], (double)max_us / 1000.0);
    return 0;
}
