/*
 * wslay-echo-server.c: the "no JavaScript at all" baseline for `npm run bench` (issue 5).
 *
 * A plain epoll echo server on the system libwslay (1.1.1): it does the HTTP upgrade itself
 * (our own SHA-1 and base64), then hands the socket to a wslay event context that echoes
 * every text/binary message with wslay_event_queue_msg. No permessage-deflate.
 * It is the ceiling for the per-message cost of any binding built on wslay.
 *
 * Usage: wslay-echo-server [--port N]   (0 = ephemeral)
 * Prints "listening on http://127.0.0.1:PORT" once ready.
 * Build: cc -O2 -Wall -Wextra -o wslay-echo-server wslay-echo-server.c -lwslay
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define REQ_CAP 8192
#define OUT_CAP 65536

/* ---- SHA-1 (FIPS 180-4 §6.1), only for the 60-byte Sec-WebSocket-Accept input ---- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *b) {
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)b[4 * t] << 24 | (uint32_t)b[4 * t + 1] << 16 | (uint32_t)b[4 * t + 2] << 8 | b[4 * t + 3];
    for (int t = 16; t < 80; t++) w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20) { f = (bb & c) | (~bb & d); k = 0x5a827999; }
        else if (t < 40) { f = bb ^ c ^ d; k = 0x6ed9eba1; }
        else if (t < 60) { f = (bb & c) | (bb & d) | (c & d); k = 0x8f1bbcdc; }
        else { f = bb ^ c ^ d; k = 0xca62c1d6; }
        uint32_t tmp = rol(a, 5) + f + e + k + w[t];
        e = d; d = c; c = rol(bb, 30); bb = a; a = tmp;
    }
    h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e;
}

static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    size_t full = len / 64 * 64;
    for (size_t i = 0; i < full; i += 64) sha1_block(h, msg + i);
    /* padding: 0x80, zeros, then the bit length as a 64-bit big-endian number (§5.1.1) */
    uint8_t tail[128] = {0};
    size_t rest = len - full;
    memcpy(tail, msg + full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t i = 0; i < tail_len; i += 64) sha1_block(h, tail + i);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

static size_t base64(const uint8_t *in, size_t len, char *out) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

/* ---- connections ---- */

struct conn {
    int fd;
    uint32_t events;                /* epoll interest currently set */
    wslay_event_context_ptr ctx;    /* NULL until the upgrade response is written */
    char *req;                      /* upgrade request bytes, freed once upgraded */
    size_t req_len;
    char resp[256];                 /* 101 response still to write */
    size_t resp_len, resp_off;
    uint8_t *pre;                   /* bytes read past the request: the first frames */
    size_t pre_len, pre_off;
    uint8_t *out;                   /* frames gathered during one wslay_event_send, sent in one go */
    size_t out_len, out_off;
};

static int ep;

static void conn_free(struct conn *c) {
    close(c->fd);
    if (c->ctx) wslay_event_context_free(c->ctx);
    free(c->req);
    free(c->pre);
    free(c->out);
    free(c);
}

static void set_events(struct conn *c, uint32_t events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user) {
    struct conn *c = user;
    (void)flags;
    if (c->pre) {
        size_t n = c->pre_len - c->pre_off;
        if (n > len) n = len;
        memcpy(buf, c->pre + c->pre_off, n);
        c->pre_off += n;
        if (c->pre_off == c->pre_len) { free(c->pre); c->pre = NULL; }
        return (ssize_t)n;
    }
    ssize_t r;
    do r = recv(c->fd, buf, len, 0); while (r < 0 && errno == EINTR);
    if (r < 0) {
        wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK ? WSLAY_ERR_WOULDBLOCK
                                                                           : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (r == 0) { /* EOF */
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

/* Send what is gathered; -1 on a socket error, 0 otherwise (bytes may remain on EAGAIN). */
static int flush_out(struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->out_off += (size_t)r;
    }
    c->out_len = c->out_off = 0;
    return 0;
}

/*
 * wslay calls this once per frame header and payload; gathering them and writing once after
 * wslay_event_send turns a pipelined burst into one syscall instead of two per message.
 */
static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user) {
    struct conn *c = user;
    (void)flags;
    if (!c->out && !(c->out = malloc(OUT_CAP))) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (c->out_len + len > OUT_CAP) {
        if (flush_out(c) < 0) {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        if (c->out_len) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        if (len >= OUT_CAP) { /* big payload chunk: straight from wslay's buffer, no copy */
            ssize_t r;
            do r = send(c->fd, data, len, MSG_NOSIGNAL); while (r < 0 && errno == EINTR);
            if (r < 0) {
                wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK ? WSLAY_ERR_WOULDBLOCK
                                                                                   : WSLAY_ERR_CALLBACK_FAILURE);
                return -1;
            }
            return r;
        }
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return (ssize_t)len;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user) {
    (void)user;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME) return;
    struct wslay_event_msg msg = {arg->opcode, arg->msg, arg->msg_length};
    wslay_event_queue_msg(ctx, &msg); /* copies; a failure just drops this echo */
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = on_recv, .send_callback = on_send, .on_msg_recv_callback = on_msg,
};

/* Drive wslay: read, then write at once (saves an epoll round per echo), then re-arm or close. */
static void conn_io(struct conn *c, uint32_t ev) {
    if ((ev & EPOLLOUT) && flush_out(c) < 0) { conn_free(c); return; }
    if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->pre) {
        if (wslay_event_recv(c->ctx) != 0) { conn_free(c); return; }
    }
    if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0) { conn_free(c); return; }
    if (flush_out(c) < 0) { conn_free(c); return; }
    int r = wslay_event_want_read(c->ctx), w = wslay_event_want_write(c->ctx) || c->out_len;
    if (!r && !w) { conn_free(c); return; } /* close handshake done and flushed */
    set_events(c, (r ? EPOLLIN : 0) | (w ? EPOLLOUT : 0));
}

static const char *find_header(const char *req, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = strstr(req, "\r\n"); p; p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ' || *p == '\t') p++;
            return p;
        }
    }
    return NULL;
}

static void reject(struct conn *c) {
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    ssize_t ignored = send(c->fd, bad, sizeof bad - 1, MSG_NOSIGNAL);
    (void)ignored;
    conn_free(c);
}

static void start_ws(struct conn *c) {
    if (wslay_event_context_server_init(&c->ctx, &callbacks, c) != 0) { conn_free(c); return; }
    wslay_event_config_set_max_recv_msg_length(c->ctx, 64u << 20);
    conn_io(c, 0);
}

static void write_response(struct conn *c) {
    while (c->resp_off < c->resp_len) {
        ssize_t w = send(c->fd, c->resp + c->resp_off, c->resp_len - c->resp_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) { set_events(c, EPOLLOUT); return; }
            conn_free(c);
            return;
        }
        c->resp_off += (size_t)w;
    }
    start_ws(c);
}

/* Read the upgrade request; answer 101 with the accept value from RFC 6455 §4.2.2. */
static void handshake_io(struct conn *c) {
    if (c->resp_len) { write_response(c); return; }
    if (!c->req && !(c->req = malloc(REQ_CAP))) { conn_free(c); return; }
    ssize_t r = recv(c->fd, c->req + c->req_len, REQ_CAP - 1 - c->req_len, 0);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) conn_free(c);
        return;
    }
    if (r == 0) { conn_free(c); return; }
    c->req_len += (size_t)r;
    c->req[c->req_len] = 0;
    char *end = strstr(c->req, "\r\n\r\n");
    if (!end) {
        if (c->req_len == REQ_CAP - 1) reject(c);
        return;
    }
    size_t head = (size_t)(end + 4 - c->req);
    const char *upgrade = find_header(c->req, "Upgrade");
    const char *key = find_header(c->req, "Sec-WebSocket-Key");
    if (strncmp(c->req, "GET ", 4) != 0 || !upgrade || strncasecmp(upgrade, "websocket", 9) != 0 || !key) {
        reject(c);
        return;
    }
    size_t klen = strcspn(key, " \t\r\n");
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char input[128];
    uint8_t digest[20];
    char accept[32];
    if (klen == 0 || klen + sizeof guid > sizeof input) { reject(c); return; }
    memcpy(input, key, klen);
    memcpy(input + klen, guid, sizeof guid - 1);
    sha1((const uint8_t *)input, klen + sizeof guid - 1, digest);
    base64(digest, 20, accept);
    c->resp_len = (size_t)snprintf(c->resp, sizeof c->resp,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    if (c->req_len > head) { /* a client may send frames right behind the request */
        c->pre_len = c->req_len - head;
        c->pre = malloc(c->pre_len);
        if (!c->pre) { conn_free(c); return; }
        memcpy(c->pre, c->req + head, c->pre_len);
    }
    free(c->req);
    c->req = NULL;
    write_response(c);
}

static void accept_all(int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or EMFILE: retried on the next readiness */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) { close(fd); continue; }
        c->fd = fd;
        c->events = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { close(fd); free(c); }
    }
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else { fprintf(stderr, "usage: wslay-echo-server [--port N]\n"); return 2; }
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl; /* thousands of idle connections in the memory scenario */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
        perror("listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    static int listener_tag; /* data.ptr for the listening socket */
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) { perror("epoll"); return 1; }

    printf("listening on http://127.0.0.1:%d\n", ntohs(sa.sin_port));
    fflush(stdout);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener_tag) { accept_all(lfd); continue; }
            struct conn *c = evs[i].data.ptr;
            if (c->ctx) conn_io(c, evs[i].events);
            else handshake_io(c);
        }
    }
}
