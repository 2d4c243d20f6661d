-- wrk script: send HEAD instead of GET (headers given with -H still apply).
wrk.method = "HEAD"
