/*
 * load-client.c: the WebSocket load generator behind `npm run bench` (issue 5).
 *
 * One process, one epoll loop, non-blocking sockets and our own RFC 6455 framing, so
 * the same client drives every server and costs as little CPU as we can make it:
 *   - the masked outgoing frame is built once (one random mask) and re-sent with writev,
 *     never copied or re-masked per message;
 *   - echoes are parsed in place from one shared read buffer; only the header state of a
 *     partial frame is kept per connection, payload bytes are counted, not stored.
 *
 * Modes: echo (W messages in flight per connection, one new message per echo), idle
 * (open N connections and hold them), churn (connect + handshake + close handshake in a
 * loop), fanout (one sender connection, to PATH?role=sender, and N receivers: the sender keeps
 * W messages in flight, a message counting as done once the receivers got as many messages as
 * there are receivers; the rate is messages delivered to receivers). The result is one JSON
 * line on stdout.
 *
 * --messages N (echo mode) replaces the timed window with a fixed count: N echoes per phase,
 * --phases P phases on the same connections. Each phase ends once every echo is back, when the
 * client prints {"event":"phase",...} and waits for a line on stdin before the next phase (and
 * for stdin to close after the last one), so a harness can zero and dump a profiler's counters
 * of an idle server exactly between phases (`npm run bench -- --callgrind`).
 *
 * --tls (built with -DWITH_TLS, OpenSSL's libssl): wss. Each connection does a non-blocking TLS handshake
 * after the TCP connect, then the same upgrade and echo loop through SSL_write/SSL_read; the outgoing frames
 * come from one buffer of MAX_IOV copies of the prepared frame, so one SSL_write sends a window of them.
 * The server's certificate is not verified: this measures throughput, not trust.
 *
 * Build: cc -O2 -Wall -Wextra -o load-client load-client.c -lz   (-DNO_ZLIB: no deflate;
 *        -DWITH_TLS ... -lssl -lcrypto: --tls)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifndef NO_ZLIB
#include <zlib.h>
#endif
#ifdef WITH_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

enum mode { MODE_ECHO, MODE_IDLE, MODE_CHURN, MODE_FANOUT };
/* ST_TLS: TCP connected, TLS handshake in progress (--tls only) */
enum conn_state { ST_FREE, ST_CONNECTING, ST_TLS, ST_HANDSHAKE, ST_OPEN, ST_CLOSING };

/* RFC 6455 §1.3 example key: its accept value is fixed, so we can verify it without SHA-1. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define HS_CAP 2048
#define RBUF_CAP (256 * 1024)
#define MAX_IOV 64

struct options {
    const char *host;
    int port;
    const char *path;
    int conns;
    int inflight;
    size_t size;
    int text;
    int deflate;
    double duration;
    double warmup;
    enum mode mode;
    int server_pid;
    int connect_batch;
    uint64_t messages;   /* per phase; 0 = timed window */
    int phases;
    int tls;
};

struct conn {
    int fd;
#ifdef WITH_TLS
    SSL *ssl;            /* --tls: this connection's TLS session */
#endif
    uint8_t state;
    uint8_t deflate;     /* permessage-deflate negotiated on this connection */
    uint8_t want_out;    /* EPOLLOUT currently armed */
    uint8_t close_seen;  /* close frame received (churn) */
    char *hs;            /* upgrade response being read; freed once open */
    size_t hs_len;
    size_t req_off;      /* bytes of the upgrade request already written */
    uint64_t owed;       /* whole frames still to send */
    size_t frame_off;    /* bytes of the first owed frame already sent */
    /* receive parser: header bytes of the frame in progress, then payload to skip */
    uint8_t hdr[14];
    uint8_t hdr_len;
    uint8_t hdr_need;    /* 0 while inside a payload */
    uint8_t opcode;      /* of the frame in progress */
    uint8_t fin;
    uint8_t in_msg;
    uint8_t msg_compressed;
    uint64_t rx_left;
    uint64_t msg_len;
    double deadline;     /* churn / connect timeout */
};

static struct options opt = {
    .host = "127.0.0.1", .port = 0, .path = "/", .conns = 1, .inflight = 1, .size = 64,
    .text = 0, .deflate = 0, .duration = 5, .warmup = 1, .mode = MODE_ECHO, .server_pid = 0,
    .connect_batch = 256, .messages = 0, .phases = 1,
};

static struct sockaddr_storage addr;
static socklen_t addr_len;
static int ep;
static struct conn *conns;
static uint8_t rbuf[RBUF_CAP];
static char request[1024];
static size_t request_len;
/* fanout: the sender's upgrade request (PATH?role=sender), its connection conns[0], and the window */
static char request_sender[1024];
static size_t request_sender_len;
static struct conn *fan_sender;
static uint64_t fan_sent, fan_delivered, fan_skipped, fan_stalls;
static double fan_progress;
static uint8_t *frame_plain, *frame_deflate, *frame_close;
static size_t frame_plain_len, frame_deflate_len, frame_close_len;
#ifdef WITH_TLS
static SSL_CTX *tls_ctx;
/* MAX_IOV copies of the plain / deflate frame back to back: what writev gathers, for SSL_write */
static uint8_t *batch_plain, *batch_deflate;
#endif

/* counters; the window snapshot is subtracted at the end */
static uint64_t messages, compressed_echoes, completed, errors, len_mismatch;
static int open_count, pending_connects, deflate_negotiated;
static int counting;
/* fixed-count phases: frames handed out in this phase (sent or owed) and echoes back */
static uint64_t phase_sent, phase_echoed;
static int phase_running;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double own_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* utime + stime of another process (all its threads), from /proc/PID/stat; -1 if unreadable. */
static double proc_cpu(int pid) {
    char path[64], buf[1024];
    if (pid <= 0) return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- frames prepared once ---- */

/* A client frame: header, mask key, masked payload (RFC 6455 §5.2, §5.3). */
static uint8_t *build_frame(uint8_t first, const uint8_t *payload, size_t len, const uint8_t mask[4],
                            size_t *out_len) {
    size_t hl = 2 + (len > 65535 ? 8 : len > 125 ? 2 : 0) + 4;
    uint8_t *f = malloc(hl + len);
    if (!f) { perror("malloc"); exit(2); }
    size_t i = 0;
    f[i++] = first;
    if (len > 65535) {
        f[i++] = 0x80 | 127;
        for (int s = 56; s >= 0; s -= 8) f[i++] = (uint8_t)(len >> s);
    } else if (len > 125) {
        f[i++] = 0x80 | 126;
        f[i++] = (uint8_t)(len >> 8);
        f[i++] = (uint8_t)len;
    } else {
        f[i++] = 0x80 | (uint8_t)len;
    }
    memcpy(f + i, mask, 4);
    i += 4;
    for (size_t k = 0; k < len; k++) f[i + k] = payload[k] ^ mask[k & 3];
    *out_len = i + len;
    return f;
}

/* Compressible, valid UTF-8 text (ASCII) or a byte pattern for binary. */
static void fill_payload(uint8_t *p, size_t len, int text) {
    static const char words[] =
        "{\"type\":\"update\",\"user\":\"alice\",\"room\":\"general\",\"text\":\"hello world, the quick brown "
        "fox jumps over the lazy dog\",\"seq\":12345,\"ok\":true} ";
    for (size_t i = 0; i < len; i++)
        p[i] = text ? (uint8_t)words[i % (sizeof words - 1)] : (uint8_t)(i * 31 + 7);
}

#ifndef NO_ZLIB
/* Raw deflate of the whole message, sync-flushed, tail 00 00 ff ff stripped (RFC 7692 §7.2.1). */
static uint8_t *deflate_once(const uint8_t *in, size_t len, size_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        fprintf(stderr, "deflateInit2 failed\n");
        exit(2);
    }
    size_t cap = deflateBound(&zs, len) + 16;
    uint8_t *out = malloc(cap);
    if (!out) { perror("malloc"); exit(2); }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK || zs.avail_in != 0) {
        fprintf(stderr, "deflate failed\n");
        exit(2);
    }
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    if (n >= 4 && memcmp(out + n - 4, "\x00\x00\xff\xff", 4) == 0) n -= 4;
    *out_len = n;
    return out;
}
#endif

static void prepare_frames(void) {
    uint8_t mask[4];
    srand((unsigned)(time(NULL) ^ getpid()));
    do {
        for (int i = 0; i < 4; i++) mask[i] = (uint8_t)(rand() >> 7);
    } while (!(mask[0] | mask[1] | mask[2] | mask[3]));

    uint8_t *payload = malloc(opt.size ? opt.size : 1);
    if (!payload) { perror("malloc"); exit(2); }
    fill_payload(payload, opt.size, opt.text);
    uint8_t opcode = opt.text ? 0x1 : 0x2;
    frame_plain = build_frame(0x80 | opcode, payload, opt.size, mask, &frame_plain_len);
#ifndef NO_ZLIB
    if (opt.deflate) {
        size_t clen;
        uint8_t *c = deflate_once(payload, opt.size, &clen);
        frame_deflate = build_frame(0x80 | 0x40 | opcode, c, clen, mask, &frame_deflate_len);
        free(c);
    }
#endif
    free(payload);
    static const uint8_t close_body[2] = {0x03, 0xe8}; /* 1000 */
    frame_close = build_frame(0x80 | 0x8, close_body, 2, mask, &frame_close_len);

    request_len = (size_t)snprintf(request, sizeof request,
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
        opt.path, opt.host, opt.port,
        opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n" : "");
    request_sender_len = (size_t)snprintf(request_sender, sizeof request_sender,
        "GET %s%srole=sender HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
        opt.path, strchr(opt.path, '?') ? "&" : "?", opt.host, opt.port);
}

/* The upgrade request a connection sends: the sender's in fanout mode, the common one otherwise. */
static const char *conn_request(const struct conn *c, size_t *len) {
    if (c == fan_sender) { *len = request_sender_len; return request_sender; }
    *len = request_len;
    return request;
}

/* ---- connections ---- */

static void set_events(struct conn *c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = (uint8_t)want_out;
}

static void conn_close(struct conn *c) {
    if (c->state == ST_FREE) return;
    if (c->state == ST_CONNECTING || c->state == ST_TLS || c->state == ST_HANDSHAKE) pending_connects--;
    if (c->state == ST_OPEN || c->state == ST_CLOSING) open_count--;
#ifdef WITH_TLS
    SSL_free(c->ssl); /* no close_notify: the bench drops its connections */
    c->ssl = NULL;
#endif
    close(c->fd); /* also removes it from epoll */
    free(c->hs);
    c->hs = NULL;
    c->fd = -1;
    c->state = ST_FREE;
}

static void conn_fail(struct conn *c) {
    errors++;
    conn_close(c);
}

/* ---- I/O: the socket itself, or its TLS session (--tls) ---- */

#ifdef WITH_TLS
/* An SSL_read/SSL_write result in read()/write() terms: -1 with errno EAGAIN while OpenSSL waits for the socket
 * (EPOLLOUT armed when it waits to write), 0 for the peer's close, -1 otherwise. OpenSSL's error queue is
 * per thread, not per connection: it is cleared after every failure so the next connection starts clean. */
static ssize_t tls_result(struct conn *c, int r) {
    if (r > 0) return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_WRITE:
        set_events(c, 1);
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0) return 0;
        return -1;
    default:
        ERR_clear_error();
        errno = EIO;
        return -1;
    }
}
#endif

static ssize_t conn_read(struct conn *c, void *buf, size_t cap) {
#ifdef WITH_TLS
    if (c->ssl) return tls_result(c, SSL_read(c->ssl, buf, (int)cap));
#endif
    return read(c->fd, buf, cap);
}

static ssize_t conn_write(struct conn *c, const void *buf, size_t len) {
#ifdef WITH_TLS
    if (c->ssl) return tls_result(c, SSL_write(c->ssl, buf, (int)len));
#endif
    return write(c->fd, buf, len);
}

/* Bytes read but not handed out yet: TLS records OpenSSL already pulled from the socket (read-ahead), which
 * epoll cannot report. */
static int read_buffered(struct conn *c) {
#ifdef WITH_TLS
    if (c->ssl) return SSL_has_pending(c->ssl);
#endif
    (void)c;
    return 0;
}

#ifdef WITH_TLS
static void on_writable(struct conn *c);

/* One step of the non-blocking TLS handshake; once done, the upgrade request goes out. */
static void tls_step(struct conn *c) {
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = ST_HANDSHAKE;
        on_writable(c);
        return;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: set_events(c, 0); return;
    case SSL_ERROR_WANT_WRITE: set_events(c, 1); return;
    default: ERR_clear_error(); conn_fail(c); return;
    }
}

/* TCP is connected: start the TLS session on it (no SNI: the bench connects to an IP address). */
static void tls_begin(struct conn *c) {
    c->ssl = SSL_new(tls_ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) { ERR_clear_error(); conn_fail(c); return; }
    SSL_set_connect_state(c->ssl);
    c->state = ST_TLS;
    tls_step(c);
}
#endif

static void conn_start(struct conn *c) {
    memset(c, 0, sizeof *c);
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { errors++; c->state = ST_FREE; return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = ST_CONNECTING;
    c->deadline = now() + 10;
    pending_connects++;
    if (connect(c->fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS) {
        conn_fail(c);
        return;
    }
    /* On loopback the TCP handshake is usually done by now: send the upgrade request at once
     * and skip an epoll round; otherwise writable = connected (or failed: SO_ERROR tells).
     * With --tls, writable = connected, and the TLS handshake starts then. */
    if (opt.tls) {
        c->want_out = 1;
    } else {
        size_t req_len;
        const char *req = conn_request(c, &req_len);
        ssize_t w = write(c->fd, req, req_len);
        if (w > 0) {
            c->state = ST_HANDSHAKE;
            c->req_off = (size_t)w;
        } else if (errno != EAGAIN && errno != ENOTCONN && errno != EINPROGRESS) {
            conn_fail(c);
            return;
        }
        c->want_out = c->req_off < req_len;
    }
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) conn_fail(c);
}

/* n bytes of the owed frames went out. */
static void frames_sent(struct conn *c, size_t n, size_t flen) {
    size_t first = flen - c->frame_off;
    if (n < first) {
        c->frame_off += n;
    } else {
        n -= first;
        c->owed--;
        c->owed -= n / flen;
        c->frame_off = n % flen;
    }
}

#ifdef WITH_TLS
/* --tls: up to MAX_IOV owed frames in one SSL_write from the batch buffer. A write OpenSSL could not finish is
 * retried with the same start and at least the same length (owed only grows meanwhile), as SSL_write asks. */
static int flush_out_tls(struct conn *c, const uint8_t *batch, size_t flen) {
    while (c->owed) {
        uint64_t k = c->owed < MAX_IOV ? c->owed : MAX_IOV;
        ssize_t w = conn_write(c, batch + c->frame_off, (size_t)k * flen - c->frame_off);
        if (w < 0) {
            if (errno == EAGAIN) { set_events(c, 1); return 0; }
            return -1;
        }
        frames_sent(c, (size_t)w, flen);
    }
    set_events(c, 0);
    return 0;
}
#endif

/* Write owed frames (all copies point at the one prepared frame). */
static int flush_out(struct conn *c) {
    const uint8_t *f = c->deflate ? frame_deflate : frame_plain;
    size_t flen = c->deflate ? frame_deflate_len : frame_plain_len;
#ifdef WITH_TLS
    if (c->ssl) return flush_out_tls(c, c->deflate ? batch_deflate : batch_plain, flen);
#endif
    while (c->owed) {
        struct iovec iov[MAX_IOV];
        int k = 0;
        iov[k].iov_base = (void *)(f + c->frame_off);
        iov[k++].iov_len = flen - c->frame_off;
        while ((uint64_t)k < c->owed && k < MAX_IOV) {
            iov[k].iov_base = (void *)f;
            iov[k++].iov_len = flen;
        }
        ssize_t w = writev(c->fd, iov, k);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) { set_events(c, 1); return 0; }
            return -1;
        }
        frames_sent(c, (size_t)w, flen);
    }
    set_events(c, 0);
    return 0;
}

static void send_small(struct conn *c, const uint8_t *f, size_t len) {
    /* control frames are tiny and rare; a short write here is counted as an error */
    if (conn_write(c, f, len) != (ssize_t)len) errors++;
}

static void on_open(struct conn *c) {
    pending_connects--;
    open_count++;
    c->state = ST_OPEN;
    c->hdr_need = 2;
    if (c->deflate) deflate_negotiated++;
    if (opt.mode == MODE_ECHO && !opt.messages) {
        c->owed = (uint64_t)opt.inflight;
        if (flush_out(c) < 0) conn_fail(c);
    } else if (opt.mode == MODE_CHURN) {
        c->state = ST_CLOSING;
        send_small(c, frame_close, frame_close_len);
    }
}

/* ---- fanout ---- */

static int fan_receivers(void) {
    int sender_open = fan_sender->state == ST_OPEN || fan_sender->state == ST_CLOSING;
    return open_count - sender_open;
}

/* Hand the sender frames until W messages are in flight. A message is done once the receivers got, in all, as
 * many messages as there are receivers (so no receiver can fall far behind), or when it was given up (stall). */
static void fanout_refill(void) {
    int r = fan_receivers();
    if (fan_sender->state != ST_OPEN || r <= 0) return;
    uint64_t done = (fan_delivered + fan_skipped) / (uint64_t)r, added = 0;
    while (fan_sent < done + (uint64_t)opt.inflight) { fan_sent++; added++; }
    if (added) {
        fan_sender->owed += added;
        if (flush_out(fan_sender) < 0) conn_fail(fan_sender);
    }
}

static void fanout_delivered(void) {
    fan_delivered++;
    fan_progress = now();
    fanout_refill();
}

/* A receiver that misses messages (a server that drops them) would stall the window: after a second without a
 * delivery, the messages in flight count as done. */
static void fanout_check_stall(double t) {
    int r = fan_receivers();
    if (r <= 0 || t - fan_progress < 1.0) return;
    uint64_t owed_deliveries = fan_sent * (uint64_t)r;
    if (fan_delivered + fan_skipped >= owed_deliveries) return;
    fan_skipped = owed_deliveries - fan_delivered;
    fan_stalls++;
    fan_progress = t;
    fanout_refill();
}

/* A complete frame arrived; returns -1 to drop the connection. */
static int frame_end(struct conn *c) {
    c->hdr_need = 2;
    c->hdr_len = 0;
    switch (c->opcode) {
    case 0x0: case 0x1: case 0x2:
        if (!c->fin) return 0;
        c->in_msg = 0;
        if (counting) {
            messages++;
            if (c->msg_compressed) compressed_echoes++;
        }
        /* compressed echoes cannot be length-checked without inflating */
        if (!c->msg_compressed && c->msg_len != opt.size) len_mismatch++;
        if (opt.mode == MODE_FANOUT) {
            if (c != fan_sender) fanout_delivered();
        } else if (opt.messages) {
            phase_echoed++;
            if (phase_running && phase_sent < opt.messages) { phase_sent++; c->owed++; }
        } else if (opt.mode == MODE_ECHO) {
            c->owed++;
        }
        return 0;
    case 0x8:
        if (opt.mode == MODE_CHURN) { c->close_seen = 1; return 0; }
        return -1; /* the server closed on us */
    case 0x9: {
        /* answer with an empty pong; servers in this bench do not ping */
        static const uint8_t pong[6] = {0x8a, 0x80, 0, 0, 0, 0};
        send_small(c, pong, sizeof pong);
        return 0;
    }
    default:
        return 0;
    }
}

static int frame_begin(struct conn *c) {
    const uint8_t *h = c->hdr;
    if (h[1] & 0x80) return -1; /* servers must not mask (RFC 6455 §5.1) */
    c->fin = h[0] >> 7;
    c->opcode = h[0] & 0x0f;
    int rsv1 = (h[0] >> 6) & 1;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        len = ((uint64_t)h[2] << 8) | h[3];
    } else if (len == 127) {
        len = 0;
        for (int i = 2; i < 10; i++) len = (len << 8) | h[i];
    }
    if (h[0] & 0x30) return -1; /* RSV2/RSV3 */
    if (c->opcode >= 0x8) {
        if (!c->fin || len > 125 || rsv1) return -1;
    } else if (c->opcode == 0x0) {
        if (!c->in_msg || rsv1) return -1;
        c->msg_len += len;
    } else if (c->opcode <= 0x2) {
        if (c->in_msg) return -1;
        if (rsv1 && !c->deflate) return -1;
        c->in_msg = 1;
        c->msg_compressed = (uint8_t)rsv1;
        c->msg_len = len;
    } else {
        return -1;
    }
    c->rx_left = len;
    c->hdr_need = 0;
    return 0;
}

/* Parse server frames: any length encoding, several frames per read, frames split anywhere. */
static int parse(struct conn *c, const uint8_t *p, size_t n) {
    while (n > 0) {
        if (c->hdr_need) {
            size_t take = (size_t)(c->hdr_need - c->hdr_len);
            if (take > n) take = n;
            memcpy(c->hdr + c->hdr_len, p, take);
            c->hdr_len += (uint8_t)take;
            p += take;
            n -= take;
            if (c->hdr_len < c->hdr_need) return 0;
            if (c->hdr_need == 2) {
                uint8_t l = c->hdr[1] & 0x7f;
                uint8_t need = (uint8_t)(2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((c->hdr[1] & 0x80) ? 4 : 0));
                if (need > 2) { c->hdr_need = need; continue; }
            }
            if (frame_begin(c) < 0) return -1;
            if (c->rx_left == 0 && frame_end(c) < 0) return -1;
            continue;
        }
        size_t take = c->rx_left < n ? (size_t)c->rx_left : n;
        c->rx_left -= take;
        p += take;
        n -= take;
        if (c->rx_left == 0 && frame_end(c) < 0) return -1;
    }
    return 0;
}

static int finish_churn(struct conn *c) {
    if (counting) completed++;
    conn_close(c);
    return 0;
}

/* Upgrade response bytes: wait for the blank line, check 101 and the accept value. */
static int handshake_input(struct conn *c, const uint8_t *p, size_t n) {
    if (!c->hs && !(c->hs = malloc(HS_CAP))) return -1;
    size_t room = HS_CAP - 1 - c->hs_len, take = n < room ? n : room;
    memcpy(c->hs + c->hs_len, p, take);
    size_t old = c->hs_len;
    c->hs_len += take;
    c->hs[c->hs_len] = 0;
    char *end = strstr(c->hs, "\r\n\r\n");
    if (!end) return c->hs_len == HS_CAP - 1 ? -1 : 0;
    size_t used = (size_t)(end - c->hs) + 4 - old; /* bytes of this read that belong to the response */
    *end = 0;
    if (strncmp(c->hs, "HTTP/1.1 101", 12) != 0 || !strstr(c->hs, WS_ACCEPT)) return -1;
    c->deflate = (uint8_t)(opt.deflate && frame_deflate && strcasestr(c->hs, "permessage-deflate") != NULL);
    free(c->hs);
    c->hs = NULL;
    on_open(c);
    if (c->state == ST_FREE) return 0;
    return parse(c, p + used, n - used);
}

static void on_readable(struct conn *c) {
#ifdef WITH_TLS
    if (c->state == ST_TLS) { tls_step(c); return; }
#endif
    do {
        ssize_t r = conn_read(c, rbuf, sizeof rbuf);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            conn_fail(c);
            return;
        }
        if (r == 0) {
            /* churn: the server closes TCP after the close handshake, as RFC 6455 §7.1.1 asks */
            if (c->state == ST_CLOSING && c->close_seen) finish_churn(c);
            else conn_fail(c);
            return;
        }
        int rc = c->state == ST_HANDSHAKE ? handshake_input(c, rbuf, (size_t)r) : parse(c, rbuf, (size_t)r);
        if (rc < 0) { conn_fail(c); return; }
    } while (c->state != ST_FREE && read_buffered(c));
    if (c->state == ST_OPEN && c->owed && flush_out(c) < 0) conn_fail(c);
}

static void on_writable(struct conn *c) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) { conn_fail(c); return; }
#ifdef WITH_TLS
        if (opt.tls) { tls_begin(c); return; }
#endif
        c->state = ST_HANDSHAKE;
    }
#ifdef WITH_TLS
    if (c->state == ST_TLS) { tls_step(c); return; }
#endif
    if (c->state == ST_HANDSHAKE) {
        size_t req_len;
        const char *req = conn_request(c, &req_len);
        ssize_t w = conn_write(c, req + c->req_off, req_len - c->req_off);
        if (w < 0) {
            if (errno != EAGAIN && errno != EINTR) conn_fail(c);
            return;
        }
        c->req_off += (size_t)w;
        if (c->req_off == req_len) set_events(c, 0);
        return;
    }
    if (c->state == ST_OPEN && flush_out(c) < 0) conn_fail(c);
}

/* ---- fixed-count phases (--messages) ---- */

/* Hand each open connection its window of frames, up to the phase's count. */
static void phase_start(void) {
    phase_sent = phase_echoed = 0;
    phase_running = 1;
    for (int i = 0; i < opt.conns && phase_sent < opt.messages; i++) {
        struct conn *c = &conns[i];
        if (c->state != ST_OPEN) continue;
        uint64_t give = (uint64_t)opt.inflight;
        if (give > opt.messages - phase_sent) give = opt.messages - phase_sent;
        c->owed += give;
        phase_sent += give;
        if (flush_out(c) < 0) conn_fail(c);
    }
}

/* Block until a whole line (1) or EOF (0) on stdin: the server is idle meanwhile. */
static int read_stdin_line(void) {
    for (;;) {
        char ch;
        ssize_t r = read(0, &ch, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        if (ch == '\n') return 1;
    }
}

/* ---- main loop ---- */

static void usage(void) {
    fprintf(stderr,
        "usage: load-client --port N [--host H] [--path P] [--mode echo|idle|churn|fanout]\n"
        "  [--conns N] [--inflight W] [--size S] [--text|--binary] [--deflate]\n"
        "  [--duration T] [--warmup T] [--server-pid PID] [--connect-batch N]\n"
        "  [--messages N [--phases P]]   (echo: N echoes per phase, a stdin line between phases)\n"
        "  [--tls]   (wss; needs a build with -DWITH_TLS)\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
        if (ARG("--host")) opt.host = v;
        else if (ARG("--port")) opt.port = atoi(v);
        else if (ARG("--path")) opt.path = v;
        else if (ARG("--conns")) opt.conns = atoi(v);
        else if (ARG("--inflight")) opt.inflight = atoi(v);
        else if (ARG("--size")) opt.size = (size_t)strtoull(v, NULL, 10);
        else if (ARG("--duration")) opt.duration = atof(v);
        else if (ARG("--warmup")) opt.warmup = atof(v);
        else if (ARG("--server-pid")) opt.server_pid = atoi(v);
        else if (ARG("--connect-batch")) opt.connect_batch = atoi(v);
        else if (ARG("--messages")) opt.messages = strtoull(v, NULL, 10);
        else if (ARG("--phases")) opt.phases = atoi(v);
        else if (ARG("--mode")) {
            if (!strcmp(v, "echo")) opt.mode = MODE_ECHO;
            else if (!strcmp(v, "idle")) opt.mode = MODE_IDLE;
            else if (!strcmp(v, "churn")) opt.mode = MODE_CHURN;
            else if (!strcmp(v, "fanout")) opt.mode = MODE_FANOUT;
            else usage();
        }
        else if (!strcmp(a, "--text")) opt.text = 1;
        else if (!strcmp(a, "--binary")) opt.text = 0;
        else if (!strcmp(a, "--deflate")) opt.deflate = 1;
        else if (!strcmp(a, "--tls")) opt.tls = 1;
        else usage();
#undef ARG
    }
    if (opt.port <= 0 || opt.conns <= 0 || opt.inflight <= 0 || opt.duration <= 0 || opt.warmup < 0)
        usage();
    if (opt.connect_batch <= 0) opt.connect_batch = 1;
    if (opt.phases <= 0 || (opt.messages && opt.mode != MODE_ECHO)) usage();
#ifdef NO_ZLIB
    if (opt.deflate) {
        fprintf(stderr, "load-client: built without zlib, --deflate ignored\n");
        opt.deflate = 0;
    }
#endif
#ifndef WITH_TLS
    if (opt.tls) {
        fprintf(stderr, "load-client: built without OpenSSL (-DWITH_TLS), --tls is not available\n");
        exit(2);
    }
#endif
}

#ifdef WITH_TLS
static uint8_t *repeat_frame(const uint8_t *f, size_t len) {
    uint8_t *b = malloc(len * MAX_IOV);
    if (!b) { perror("malloc"); exit(2); }
    for (int i = 0; i < MAX_IOV; i++) memcpy(b + (size_t)i * len, f, len);
    return b;
}

/* One client context for every connection: no certificate check, writes may complete in parts, a peer that
 * closes TCP without close_notify reads as EOF. */
static void tls_setup(void) {
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) { fprintf(stderr, "load-client: SSL_CTX_new failed\n"); exit(2); }
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_read_ahead(tls_ctx, 1);
    batch_plain = repeat_frame(frame_plain, frame_plain_len);
    if (frame_deflate) batch_deflate = repeat_frame(frame_deflate, frame_deflate_len);
}
#endif

static void resolve(void) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    char port[16];
    snprintf(port, sizeof port, "%d", opt.port);
    if (getaddrinfo(opt.host, port, &hints, &res) != 0 || !res) {
        fprintf(stderr, "load-client: cannot resolve %s\n", opt.host);
        exit(2);
    }
    memcpy(&addr, res->ai_addr, res->ai_addrlen);
    addr_len = res->ai_addrlen;
    freeaddrinfo(res);
}

static const char *mode_name(void) {
    return opt.mode == MODE_ECHO ? "echo" : opt.mode == MODE_IDLE ? "idle" : opt.mode == MODE_FANOUT ? "fanout" : "churn";
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    resolve();
    prepare_frames();
#ifdef WITH_TLS
    if (opt.tls) tls_setup();
#endif

    /* fanout: --conns receivers and one more connection, conns[0], the sender */
    const int total = opt.conns + (opt.mode == MODE_FANOUT);
    ep = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t)total, sizeof *conns);
    if (ep < 0 || !conns) { perror("setup"); return 2; }
    if (opt.mode == MODE_FANOUT) fan_sender = &conns[0];

    int stdin_watched = 0;
    if (opt.mode == MODE_IDLE) {
        /* idle ends when the harness closes our stdin (after it has read the server's RSS) */
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        stdin_watched = epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == 0;
    }

    /* Connect in batches so a burst of SYNs never overflows the server's accept backlog. */
    int started = 0;
    const double t_begin = now(), connect_deadline = t_begin + 15;
    double t_up = 0, t_start = 0, t_end = 0;
    double cpu_start = 0, srv_start = -1;
    uint64_t msgs_start = 0, publishes_start = 0;
    int all_up = 0, stop = 0, phases_done = 0;
    struct epoll_event evs[512];

    while (!stop) {
        double t = now();
        if (!all_up) {
            while (started < total && pending_connects < opt.connect_batch) conn_start(&conns[started++]);
            if ((started == total && pending_connects == 0) || t > connect_deadline) {
                all_up = 1;
                t_up = t;
                t_start = t_up + (opt.mode == MODE_IDLE || opt.messages ? 0 : opt.warmup);
                t_end = t_start + opt.duration;
                if (opt.mode == MODE_FANOUT) {
                    fan_progress = t;
                    fanout_refill(); /* the first W messages, once every receiver is connected */
                }
                if (opt.mode == MODE_IDLE) {
                    printf("{\"event\":\"ready\",\"connections\":%d,\"errors\":%llu,\"seconds\":%.3f}\n",
                           open_count, (unsigned long long)errors, t_up - t_begin);
                    fflush(stdout);
                }
            }
        }
        if (all_up && !counting && t >= t_start) {
            counting = 1;
            msgs_start = messages; /* stays 0: nothing counts before the window */
            publishes_start = fan_sent;
            cpu_start = own_cpu();
            srv_start = proc_cpu(opt.server_pid);
            t_start = t;
            t_end = t_start + opt.duration;
        }
        if (counting && opt.messages) {
            if (!phase_running) {
                phase_start();
            } else if (phase_echoed >= phase_sent || open_count == 0) {
                /* every echo of this phase is back (or nothing is left to echo) */
                phase_running = 0;
                phases_done++;
                printf("{\"event\":\"phase\",\"phase\":%d,\"messages\":%llu,\"open\":%d,\"errors\":%llu}\n",
                       phases_done, (unsigned long long)phase_echoed, open_count,
                       (unsigned long long)(errors + len_mismatch));
                fflush(stdout);
                int more = read_stdin_line();
                if (!more || phases_done == opt.phases) {
                    while (more) more = read_stdin_line(); /* hold the connections until stdin closes */
                    break;
                }
                phase_start();
            }
        } else if (counting && t >= t_end) {
            break;
        }

        int timeout = 50;
        int n = epoll_wait(ep, evs, 512, timeout);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); return 2; }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) { /* stdin */
                char tmp[256];
                ssize_t r = read(0, tmp, sizeof tmp);
                if (r <= 0) { stop = 1; epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL); }
                continue;
            }
            if (c->state == ST_FREE) continue;
            uint32_t e = evs[i].events;
            if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (c->state == ST_CONNECTING) on_writable(c); /* resolves a failed connect */
                else on_readable(c);
            }
            if (c->state != ST_FREE && (e & EPOLLOUT)) on_writable(c);
        }
        if (opt.mode == MODE_FANOUT && all_up) fanout_check_stall(now());
        if (opt.mode == MODE_CHURN) {
            /* keep C connections cycling; a stuck one times out instead of stalling the loop */
            double t2 = now();
            for (int i = 0; i < opt.conns; i++) {
                struct conn *c = &conns[i];
                if (c->state != ST_FREE && t2 > c->deadline) conn_fail(c);
                if (all_up && c->state == ST_FREE && !(counting && t2 >= t_end)) conn_start(c);
            }
        } else if (!all_up) {
            double t2 = now();
            for (int i = 0; i < started; i++) {
                struct conn *c = &conns[i];
                if ((c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) && t2 > c->deadline) conn_fail(c);
            }
        }
    }
    (void)stdin_watched;

    double t_stop = now();
    double cpu = counting ? own_cpu() - cpu_start : 0;
    double srv_end = proc_cpu(opt.server_pid);
    double secs = counting ? t_stop - t_start : 0;
    uint64_t count = opt.mode == MODE_CHURN ? completed : messages - msgs_start;
    printf("{\"mode\":\"%s\",\"tls\":%s,\"connections\":%d,\"open\":%d,\"inflight\":%d,\"size\":%zu,\"opcode\":\"%s\","
           "\"deflate_offered\":%s,\"deflate_negotiated\":%d,\"compressed_echoes\":%llu,"
           "\"messages\":%llu,\"seconds\":%.4f,\"msgs_per_sec\":%.1f,\"client_cpu_seconds\":%.4f,",
           mode_name(), opt.tls ? "true" : "false", opt.conns, open_count, opt.inflight, opt.size, opt.text ? "text" : "binary",
           opt.deflate ? "true" : "false", deflate_negotiated, (unsigned long long)compressed_echoes,
           (unsigned long long)count, secs, secs > 0 ? count / secs : 0.0, cpu);
    if (srv_start >= 0 && srv_end >= 0) printf("\"server_cpu_seconds\":%.4f,", srv_end - srv_start);
    else printf("\"server_cpu_seconds\":null,");
    if (opt.mode == MODE_FANOUT)
        printf("\"receivers\":%d,\"publishes\":%llu,\"stalls\":%llu,", fan_receivers(),
               (unsigned long long)(fan_sent - publishes_start), (unsigned long long)fan_stalls);
    printf("\"length_mismatches\":%llu,\"errors\":%llu}\n", (unsigned long long)len_mismatch,
           (unsigned long long)(errors + len_mismatch));
    fflush(stdout);
    return 0;
}
