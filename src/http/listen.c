/*
 * listen.c - parsing listen addresses and opening the listening socket (see http_int.h).
 *
 * Binding here, apart from the workers, gives the operator "listen 127.0.0.1:9470: Address
 * already in use" and lets `vigil doctor` probe an address without starting a server. One
 * code path serves IPv4, IPv6 and names, and reads the real port back for port 0.
 */
#include "http/http_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int http_listen_split(const char *listen, char *host, size_t host_size, unsigned *port,
                      vigil_error_t *err)
{
    if (listen == NULL || listen[0] == '\0')
        return vigil_error_set(err, VIGIL_EINVAL, "listen address is empty");
    const char *colon;
    const char *h = listen;
    size_t hlen;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':')
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "listen \"%s\": expected [ipv6-address]:port", listen);
        h = listen + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL)
            return vigil_error_set(err, VIGIL_EINVAL, "listen \"%s\": missing \":port\"",
                                   listen);
        hlen = (size_t)(colon - listen);
        if (memchr(listen, ':', hlen) != NULL)
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "listen \"%s\": IPv6 addresses need brackets: [::1]:9470",
                                   listen);
    }
    if (hlen >= host_size)
        return vigil_error_set(err, VIGIL_EINVAL, "listen \"%s\": host name too long", listen);
    const char *p = colon + 1;
    unsigned long v = 0;
    if (*p == '\0')
        return vigil_error_set(err, VIGIL_EINVAL, "listen \"%s\": missing port", listen);
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > 65535)
            return vigil_error_set(err, VIGIL_EINVAL, "listen \"%s\": bad port", listen);
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535)
        return vigil_error_set(err, VIGIL_EINVAL, "listen \"%s\": port above 65535", listen);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)v;
    return 0;
}

/* Creates, binds and starts listening on one address. Returns the socket or -1 with errno. */
static int open_one(const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    /* SO_REUSEADDR lets a restarted agent bind while old connections sit in TIME_WAIT; on
     * Linux it still refuses a port someone is listening on. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        goto out_close_fd;
    /* "[::]" and ":port" mean every interface, IPv4 included, as in Go and Prometheus. */
    if (sa->sa_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0)
        goto out_close_fd;
    if (bind(fd, sa, salen) != 0 || listen(fd, SOMAXCONN) != 0)
        goto out_close_fd;
    return fd;

out_close_fd: {
        int e = errno;
        close(fd);
        errno = e;
    }
    return -1;
}

static int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* The vigil code and message for a failed socket()/bind()/listen() with errno `e`. */
static int bind_error(vigil_error_t *err, const char *listen, int e)
{
    int code = e == EADDRINUSE ? VIGIL_EBUSY : e == EADDRNOTAVAIL ? VIGIL_EINVAL : VIGIL_ESYS;
    return vigil_error_set(err, code, "listen %s: %s", listen, strerror(e));
}

/* Binds every interface: IPv6 dual-stack, or IPv4 alone on hosts without IPv6. */
static int open_any(const char *listen, unsigned port, int *fd, vigil_error_t *err)
{
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                               .sin6_addr = IN6ADDR_ANY_INIT };
    *fd = open_one((const struct sockaddr *)&a6, sizeof(a6));
    if (*fd >= 0)
        return 0;
    if (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL)
        return bind_error(err, listen, errno);
    struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_ANY) };
    *fd = open_one((const struct sockaddr *)&a4, sizeof(a4));
    return *fd >= 0 ? 0 : bind_error(err, listen, errno);
}

/* Binds the first address of `host` that works, IPv4 before IPv6: a name like "localhost"
 * then lands where clients that hard-code 127.0.0.1 look, and curl tries both anyway. */
static int open_host(const char *listen, const char *host, unsigned port, int *fd,
                     vigil_error_t *err)
{
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0)
        return vigil_error_set(err, VIGIL_EINVAL, "listen %s: %s", listen,
                               gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
    int e = EADDRNOTAVAIL;
    *fd = -1;
    static const int families[] = { AF_INET, AF_INET6 };
    for (size_t f = 0; f < 2 && *fd < 0; f++) {
        for (struct addrinfo *ai = res; ai != NULL && *fd < 0; ai = ai->ai_next) {
            if (ai->ai_family != families[f])
                continue;
            *fd = open_one(ai->ai_addr, ai->ai_addrlen);
            if (*fd < 0)
                e = errno;
        }
    }
    freeaddrinfo(res);
    return *fd >= 0 ? 0 : bind_error(err, listen, e);
}

int http_listen_open(const char *listen, int *fd, int *port, vigil_error_t *err)
{
    char host[256];
    unsigned want;
    int rc = http_listen_split(listen, host, sizeof(host), &want, err);
    if (rc == 0)
        rc = host[0] == '\0' ? open_any(listen, want, fd, err)
                              : open_host(listen, host, want, fd, err);
    if (rc != 0)
        return rc;
    *port = port_of(*fd);
    if (*port < 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return vigil_error_set(err, VIGIL_ESYS, "listen %s: getsockname: %s", listen,
                               strerror(e));
    }
    return 0;
}

int http_listen_probe(const char *listen, vigil_error_t *err)
{
    int fd, port;
    int rc = http_listen_open(listen, &fd, &port, err);
    if (rc == 0)
        close(fd);
    return rc;
}
