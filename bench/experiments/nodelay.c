/*
 * Experiment, not part of cairn: sets TCP_NODELAY on every TCP socket a
 * process connects or accepts (LD_PRELOAD), except in processes named
 * `tor` unless CAIRN_NODELAY_TOR is set. It showed that the onion
 * figures' 40 ms steps are Nagle's algorithm meeting a delayed ACK, mostly
 * in the private network's tor relays (bench/RESULTS.md, "Onion").
 *
 *   cc -shared -fPIC -O2 -o /tmp/nodelay.so bench/experiments/nodelay.c -ldl
 *   LD_PRELOAD=/tmp/nodelay.so target/release/cairn-bench --only onion --sizes 1000
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

extern char *program_invocation_short_name;

static int is_inet(const struct sockaddr *a) {
    return a && (a->sa_family == AF_INET || a->sa_family == AF_INET6);
}

static void nodelay(int fd) {
    if (strcmp(program_invocation_short_name, "tor") == 0 && !getenv("CAIRN_NODELAY_TOR"))
        return;
    int type, one = 1;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int connect(int fd, const struct sockaddr *a, socklen_t l) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "connect");
    if (is_inet(a)) nodelay(fd);
    return real(fd, a, l);
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) {
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = dlsym(RTLD_NEXT, "accept4");
    int c = real(fd, a, l, flags);
    if (c >= 0 && is_inet(a)) nodelay(c);
    return c;
}

int accept(int fd, struct sockaddr *a, socklen_t *l) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = dlsym(RTLD_NEXT, "accept");
    int c = real(fd, a, l);
    if (c >= 0 && is_inet(a)) nodelay(c);
    return c;
}
