/* A tiny HTTP + WebSocket server that stands in for a sandbox's web terminal in the proxy tests.
 *
 * Built with `gcc -static` when the tests run (the test image has no libc) and started by the image's init
 * on the ports the companions use. One forked process per connection, one request per connection.
 *
 *   usage: companion-server PORT
 *
 *   GET  /big               20 MiB (byte i is i % 251): the first MiB at once, the rest only once
 *                           /release has been asked for, so a client sees the start before the end exists
 *   GET  /release           lets /big finish
 *   POST /upload            reads a Content-Length body; answers "received N sum S" (S: the bytes' sum mod 2^32)
 *                           and records its progress as it reads, for /upload-progress
 *   GET  /upload-progress   how many bytes the current upload has received so far
 *   WS   /echo              every message back as it came (text or binary)
 *   WS   any other path     a shell: messages are its input, its output comes back as binary messages
 *   any other request       200 text/plain: "port P", "host H" (the container's hostname), then the request
 *                           line and headers as received
 *
 * Every response names the port in an X-Port header.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEAD_MAX 16384
#define BIG_SIZE (20u * 1024u * 1024u)
#define BIG_FIRST (1024u * 1024u)

static int port;
static char release_flag[64], progress_file[64];

/* ---- SHA-1 and base64, for the WebSocket handshake ------------------------------------------- */

static uint32_t rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    unsigned char *msg = calloc(total, 1);
    memcpy(msg, data, len);
    msg[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) msg[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t chunk = 0; chunk < total; chunk += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)msg[chunk + 4 * i] << 24 | (uint32_t)msg[chunk + 4 * i + 1] << 16 |
                   (uint32_t)msg[chunk + 4 * i + 2] << 8 | msg[chunk + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rol(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    free(msg);
    for (int i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = table[(v >> 18) & 63];
        out[o++] = table[(v >> 12) & 63];
        out[o++] = i + 1 < len ? table[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? table[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- plumbing ------------------------------------------------------------------------------ */

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* The value of header `name` (case-insensitive) in `head`, copied into `out`; 0 when absent. */
static int header(const char *head, const char *name, char *out, size_t size) {
    size_t len = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, len) == 0 && start[len] == ':') {
            const char *value = start + len + 1;
            while (*value == ' ') value++;
            const char *end = strstr(value, "\r\n");
            size_t n = end ? (size_t)(end - value) : strlen(value);
            if (n >= size) n = size - 1;
            memcpy(out, value, n);
            out[n] = 0;
            return 1;
        }
    }
    return 0;
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len) {
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nX-Port: %d\r\nConnection: close\r\n\r\n",
                     status, type, len, port);
    write_all(fd, head, (size_t)n);
    write_all(fd, body, len);
}

/* ---- HTTP endpoints ------------------------------------------------------------------------ */

static void big(int fd) {
    unlink(release_flag);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %u\r\n"
                     "X-Port: %d\r\nConnection: close\r\n\r\n", BIG_SIZE, port);
    if (write_all(fd, head, (size_t)n)) return;
    static unsigned char block[65536];
    for (unsigned sent = 0; sent < BIG_SIZE;) {
        if (sent == BIG_FIRST) {
            struct stat st;
            while (stat(release_flag, &st) != 0) usleep(10000);
        }
        unsigned len = sizeof block;
        if (sent < BIG_FIRST && sent + len > BIG_FIRST) len = BIG_FIRST - sent;
        if (sent + len > BIG_SIZE) len = BIG_SIZE - sent;
        for (unsigned i = 0; i < len; i++) block[i] = (unsigned char)((sent + i) % 251);
        if (write_all(fd, block, len)) return;
        sent += len;
    }
}

/* The count so far, written over the start of the progress file (fixed width, so no truncation is needed). */
static void record_progress(int out, unsigned long count) {
    char text[24];
    int n = snprintf(text, sizeof text, "%020lu", count);
    if (out >= 0 && pwrite(out, text, (size_t)n, 0) < 0) perror("progress");
}

static void upload(int fd, const char *head, const char *already, size_t already_len) {
    char value[32];
    if (!header(head, "Content-Length", value, sizeof value)) {
        respond(fd, "411 Length Required", "text/plain", "Content-Length required\n", 24);
        return;
    }
    unsigned long expected = strtoul(value, NULL, 10), received = 0;
    uint32_t sum = 0;
    for (size_t i = 0; i < already_len; i++) sum += (unsigned char)already[i];
    received = already_len;
    int progress = open(progress_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    record_progress(progress, received);
    static unsigned char buf[65536];
    while (received < expected) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) sum += buf[i];
        received += (unsigned long)n;
        record_progress(progress, received);
    }
    if (progress >= 0) close(progress);
    if (received < expected) return;
    char body[96];
    int n = snprintf(body, sizeof body, "received %lu sum %u\n", received, sum);
    respond(fd, "200 OK", "text/plain", body, (size_t)n);
}

static void upload_progress(int fd) {
    char text[32] = "0";
    int in = open(progress_file, O_RDONLY);
    if (in >= 0) {
        ssize_t n = read(in, text, sizeof text - 1);
        text[n > 0 ? n : 0] = 0;
        close(in);
    }
    respond(fd, "200 OK", "text/plain", text, strlen(text));
}

/* ---- WebSocket ----------------------------------------------------------------------------- */

static int ws_send(int fd, int opcode, const void *data, size_t len) {
    unsigned char head[10];
    size_t n = 0;
    head[n++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        head[n++] = (unsigned char)len;
    } else if (len < 65536) {
        head[n++] = 126, head[n++] = (unsigned char)(len >> 8), head[n++] = (unsigned char)len;
    } else {
        head[n++] = 127;
        for (int i = 7; i >= 0; i--) head[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    return write_all(fd, head, n) || write_all(fd, data, len);
}

/* One frame from the client into a malloc'd buffer; returns its opcode, or -1 when the connection ends. */
static int ws_read(int fd, unsigned char **payload, size_t *len) {
    unsigned char head[2], mask[4], ext[8];
    if (read_all(fd, head, 2)) return -1;
    uint64_t size = head[1] & 0x7f;
    if (size == 126) {
        if (read_all(fd, ext, 2)) return -1;
        size = (uint64_t)ext[0] << 8 | ext[1];
    } else if (size == 127) {
        if (read_all(fd, ext, 8)) return -1;
        size = 0;
        for (int i = 0; i < 8; i++) size = size << 8 | ext[i];
    }
    if (size > 16u * 1024u * 1024u) return -1;
    if ((head[1] & 0x80) && read_all(fd, mask, 4)) return -1;
    *payload = malloc(size + 1);
    if (size && read_all(fd, *payload, size)) return -1;
    if (head[1] & 0x80)
        for (uint64_t i = 0; i < size; i++) (*payload)[i] ^= mask[i % 4];
    *len = size;
    return head[0] & 0x0f;
}

/* Close, ping and pong are answered here; returns 1 when the caller should stop. */
static int ws_control(int fd, int opcode, unsigned char *payload, size_t len) {
    if (opcode == 8) {
        ws_send(fd, 8, payload, len >= 2 ? 2 : 0);
        return 1;
    }
    if (opcode == 9) ws_send(fd, 10, payload, len);
    return 0;
}

static void ws_echo(int fd) {
    for (;;) {
        unsigned char *payload = NULL;
        size_t len = 0;
        int opcode = ws_read(fd, &payload, &len);
        if (opcode < 0) return;
        int stop = opcode >= 8 ? ws_control(fd, opcode, payload, len) : ws_send(fd, opcode, payload, len);
        free(payload);
        if (stop) return;
    }
}

static void ws_shell(int fd) {
    int input[2], output[2];
    if (pipe(input) || pipe(output)) return;
    pid_t shell = fork();
    if (shell == 0) {
        dup2(input[0], 0), dup2(output[1], 1), dup2(output[1], 2);
        close(input[1]), close(output[0]);
        execl("/bin/sh", "sh", (char *)NULL);
        _exit(127);
    }
    close(input[0]), close(output[1]);
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {output[0], POLLIN, 0}};
    static char buf[65536];
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(output[0], buf, sizeof buf);
            if (n <= 0) {
                ws_send(fd, 8, "\x03\xe8", 2);  /* the shell ended: close 1000 */
                break;
            }
            if (ws_send(fd, 2, buf, (size_t)n)) break;
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            unsigned char *payload = NULL;
            size_t len = 0;
            int opcode = ws_read(fd, &payload, &len);
            int stop = opcode < 0 || (opcode >= 8 && ws_control(fd, opcode, payload, len));
            if (!stop && opcode < 8) write_all(input[1], payload, len);
            free(payload);
            if (stop) break;
        }
    }
    close(input[1]);
    kill(shell, SIGKILL);
}

static void websocket(int fd, const char *head, const char *path) {
    char key[128], offered[256], accept[64], handshake[512];
    if (!header(head, "Sec-WebSocket-Key", key, sizeof key)) {
        respond(fd, "400 Bad Request", "text/plain", "no key\n", 7);
        return;
    }
    char joined[256];
    snprintf(joined, sizeof joined, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    unsigned char digest[20];
    sha1((unsigned char *)joined, strlen(joined), digest);
    base64(digest, 20, accept);
    int n = snprintf(handshake, sizeof handshake,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\nX-Port: %d\r\n", accept, port);
    if (header(head, "Sec-WebSocket-Protocol", offered, sizeof offered)) {
        offered[strcspn(offered, ", ")] = 0; /* the first protocol offered */
        n += snprintf(handshake + n, sizeof handshake - (size_t)n, "Sec-WebSocket-Protocol: %s\r\n", offered);
    }
    n += snprintf(handshake + n, sizeof handshake - (size_t)n, "\r\n");
    if (write_all(fd, handshake, (size_t)n)) return;
    if (strcmp(path, "/echo") == 0) ws_echo(fd);
    else ws_shell(fd);
}

/* ---- one connection ------------------------------------------------------------------------ */

static void serve(int fd) {
    static char head[HEAD_MAX + 1];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len == HEAD_MAX) return;
        ssize_t n = read(fd, head + len, HEAD_MAX - len);
        if (n <= 0) return;
        len += (size_t)n;
        head[len] = 0;
        end = strstr(head, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - head) + 4;
    char method[16], path[4096];
    if (sscanf(head, "%15s %4095s", method, path) != 2) return;
    char upgrade[64];
    if (header(head, "Upgrade", upgrade, sizeof upgrade) && strcasecmp(upgrade, "websocket") == 0) {
        websocket(fd, head, path);
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/big") == 0) {
        big(fd);
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/release") == 0) {
        int flag = open(release_flag, O_WRONLY | O_CREAT, 0644);
        if (flag >= 0) close(flag);
        respond(fd, "200 OK", "text/plain", "released\n", 9);
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/upload") == 0) {
        upload(fd, head, head + head_len, len - head_len);
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/upload-progress") == 0) {
        upload_progress(fd);
    } else {
        static char body[HEAD_MAX + 128];
        char host[64] = "";
        gethostname(host, sizeof host - 1);
        int n = snprintf(body, sizeof body, "port %d\nhost %s\n%.*s", port, host, (int)(head_len - 2), head);
        respond(fd, "200 OK", "text/plain", body, (size_t)n);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    snprintf(release_flag, sizeof release_flag, "/tmp/release-%d", port);
    snprintf(progress_file, sizeof progress_file, "/tmp/upload-%d", port);
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    int server = socket(AF_INET, SOCK_STREAM, 0), yes = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {INADDR_ANY}};
    if (bind(server, (struct sockaddr *)&address, sizeof address) || listen(server, 64)) {
        perror("listen");
        return 1;
    }
    for (;;) {
        int client = accept(server, NULL, NULL);
        if (client < 0) continue;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes); /* frames are written in two parts */
        if (fork() == 0) {
            close(server);
            serve(client);
            shutdown(client, SHUT_WR);
            close(client);
            _exit(0);
        }
        close(client);
    }
}
