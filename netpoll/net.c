/* SPDX-License-Identifier: MIT */
/*
 * net.c - sockets: ringo_listen, ringo_accept, ringo_dial, and the
 * "host:port" addresses they take.
 *
 * Networks: "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6" take "host:port"
 * ("[v6addr]:port", ":port" for every address, a name or a numeric
 * address); "unix" (stream) and "unixgram" take a path, "@name" for the
 * abstract namespace. Names are resolved with getaddrinfo(3) as a blocking
 * call through the syscall hand-off (ringo_blocking), so other goroutines
 * keep running; numeric addresses are parsed without it.
 *
 * Listeners on io_uring use one multishot accept (armed by the first
 * ringo_accept, re-armed whenever the kernel ends it): accepted sockets
 * queue in the listener's state (struct ringo__accept, under pd->lock)
 * and go to goroutines waiting in ringo_accept, first come first served.
 * Its op lives in that heap state, not on a stack, and counts in pd->nops
 * until its final CQE, so ringo_close waits for it like for any operation.
 *
 * Accept resilience (as Go's net/http): EMFILE, ENFILE, ENOBUFS and ENOMEM
 * back off with ringo_sleep, 5 ms doubling to 1 s, and retry instead of
 * failing; ECONNABORTED is retried at once.
 */
#include "netpoll.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Networks and addresses                                                 */

struct netspec {
	int family;	/* AF_UNSPEC (either), AF_INET, AF_INET6, AF_UNIX */
	int type;	/* SOCK_STREAM or SOCK_DGRAM */
};

static int parse_network(const char *net, struct netspec *ns)
{
	static const struct {
		const char *name;
		int family, type;
	} nets[] = {
		{ "tcp", AF_UNSPEC, SOCK_STREAM },  { "tcp4", AF_INET, SOCK_STREAM },
		{ "tcp6", AF_INET6, SOCK_STREAM },  { "udp", AF_UNSPEC, SOCK_DGRAM },
		{ "udp4", AF_INET, SOCK_DGRAM },    { "udp6", AF_INET6, SOCK_DGRAM },
		{ "unix", AF_UNIX, SOCK_STREAM },   { "unixgram", AF_UNIX, SOCK_DGRAM },
	};
	if (!net)
		return -EINVAL;
	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
		if (!strcmp(net, nets[i].name)) {
			ns->family = nets[i].family;
			ns->type = nets[i].type;
			return 0;
		}
	return -EINVAL;
}

#define MAX_ADDRS 8

struct resolve {
	const char *host;	/* NULL: every address (listen) / loopback (dial) */
	const char *port;
	struct netspec ns;
	bool passive;
	struct sockaddr_storage addr[MAX_ADDRS];
	socklen_t len[MAX_ADDRS];
	int n;
	int err;
};

static int gai_errno(int e)
{
	switch (e) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
	case EAI_SERVICE:
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EINVAL;
	}
}

/* Runs as a blocking call (it may read files and talk to DNS). */
static intptr_t do_getaddrinfo(void *arg)
{
	struct resolve *rs = arg;
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = rs->ns.family;
	hints.ai_socktype = rs->ns.type;
	hints.ai_flags = rs->passive ? AI_PASSIVE : 0;
	if (rs->ns.family == AF_UNSPEC && !rs->passive)
		hints.ai_flags |= AI_ADDRCONFIG;
	int e = getaddrinfo(rs->host, rs->port, &hints, &res);
	if (e != 0) {
		rs->err = gai_errno(e);
		return rs->err;
	}
	for (struct addrinfo *ai = res; ai && rs->n < MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof rs->addr[0])
			continue;
		memcpy(&rs->addr[rs->n], ai->ai_addr, ai->ai_addrlen);
		rs->len[rs->n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	rs->err = rs->n ? 0 : -ENOENT;
	return rs->err;
}

/* Split "host:port" into rs (copied into buf). */
static int split_hostport(const char *address, char *buf, size_t bufsz, struct resolve *rs)
{
	if (!address || strlen(address) >= bufsz)
		return -EINVAL;
	strcpy(buf, address);
	char *colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;	/* a port is required, as in Go */
	*colon = '\0';
	rs->port = colon + 1;
	if (!*rs->port)
		return -EINVAL;
	char *host = buf;
	if (*host == '[') {
		size_t l = strlen(host);
		if (l < 2 || host[l - 1] != ']')
			return -EINVAL;
		host[l - 1] = '\0';
		host++;
	} else if (strchr(host, ':')) {
		return -EINVAL;	/* IPv6 literals need brackets */
	}
	rs->host = *host ? host : NULL;
	return 0;
}

/* Numeric host and port: no resolver needed. 1 done, 0 not numeric. */
static int resolve_numeric(struct resolve *rs)
{
	char *end;
	long port = strtol(rs->port, &end, 10);
	if (*end || port < 0 || port > 65535)
		return 0;
	if (!rs->host) {
		/* every address (listen) or loopback (dial), as Go */
		int fam = rs->ns.family;
		if (fam == AF_INET || (fam == AF_UNSPEC && !rs->passive)) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&rs->addr[0];
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			sin->sin_addr.s_addr = htonl(rs->passive ? INADDR_ANY : INADDR_LOOPBACK);
			rs->len[0] = sizeof *sin;
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&rs->addr[0];
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			sin6->sin6_addr = rs->passive ? in6addr_any : in6addr_loopback;
			rs->len[0] = sizeof *sin6;
		}
		rs->n = 1;
		return 1;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)&rs->addr[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&rs->addr[0];
	if (rs->ns.family != AF_INET6 && inet_pton(AF_INET, rs->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		rs->len[0] = sizeof *sin;
		rs->n = 1;
		return 1;
	}
	if (rs->ns.family != AF_INET && inet_pton(AF_INET6, rs->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		rs->len[0] = sizeof *sin6;
		rs->n = 1;
		return 1;
	}
	return 0;
}

static int resolve(struct resolve *rs)
{
	if (resolve_numeric(rs))
		return 0;
	return (int)ringo_blocking(do_getaddrinfo, rs);
}

static int unix_addr(const char *path, struct sockaddr_un *sun, socklen_t *len)
{
	if (!path || !*path)
		return -EINVAL;
	size_t l = strlen(path);
	if (l >= sizeof sun->sun_path)
		return -ENAMETOOLONG;
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, l);
	if (path[0] == '@')
		sun->sun_path[0] = '\0';	/* abstract namespace */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l + (path[0] == '@' ? 0 : 1));
	return 0;
}

static int new_socket(int family, int type)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* ------------------------------------------------------------------ */
/* Listen                                                                 */

static int listen_one(const struct sockaddr *sa, socklen_t len, int type)
{
	int fd = new_socket(sa->sa_family, type);
	if (fd < 0)
		return fd;
	int one = 1, zero = 0;
	if (sa->sa_family != AF_UNIX && type == SOCK_STREAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (sa->sa_family == AF_INET6) {
		/* "tcp"/":port" listens on both families, as Go does */
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		int v6only = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ? zero : one;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
	}
	if (bind(fd, sa, len) < 0 || (type == SOCK_STREAM && listen(fd, 65535) < 0)) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct ringo__fd *pd = ringo__fd_new(fd, type == SOCK_STREAM ? FDK_LISTENER : FDK_DGRAM);
	if (!pd) {
		close(fd);
		return -ENOMEM;
	}
	pd->family = (int16_t)sa->sa_family;
	return fd;
}

int ringo_listen(const char *network, const char *address)
{
	if (!ringo__np_g())
		return -EPERM;
	struct resolve rs;
	memset(&rs, 0, sizeof rs);
	int r = parse_network(network, &rs.ns);
	if (r < 0)
		return r;
	if (rs.ns.family == AF_UNIX) {
		struct sockaddr_un sun;
		socklen_t len;
		if ((r = unix_addr(address, &sun, &len)) < 0)
			return r;
		return listen_one((struct sockaddr *)&sun, len, rs.ns.type);
	}
	char buf[300];
	if ((r = split_hostport(address, buf, sizeof buf, &rs)) < 0)
		return r;
	rs.passive = true;
	if ((r = resolve(&rs)) < 0)
		return r;
	int first = -EADDRNOTAVAIL;
	for (int i = 0; i < rs.n; i++) {
		r = listen_one((struct sockaddr *)&rs.addr[i], rs.len[i], rs.ns.type);
		if (r >= 0)
			return r;
		if (i == 0)
			first = r;
		if (r == -EAFNOSUPPORT && !rs.host && rs.addr[i].ss_family == AF_INET6) {
			/* No IPv6: every IPv4 address instead. */
			struct sockaddr_in sin = { .sin_family = AF_INET,
				.sin_port = ((struct sockaddr_in6 *)&rs.addr[i])->sin6_port,
				.sin_addr.s_addr = htonl(INADDR_ANY) };
			r = listen_one((struct sockaddr *)&sin, sizeof sin, rs.ns.type);
			if (r >= 0)
				return r;
		}
	}
	return first;
}

/* ------------------------------------------------------------------ */
/* Dial                                                                   */

static void set_nodelay(int fd, int family, int type)
{
	if (type == SOCK_STREAM && (family == AF_INET || family == AF_INET6)) {
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
}

static int dial_one(const struct sockaddr *sa, socklen_t len, int type, int64_t deadline)
{
	int fd = new_socket(sa->sa_family, type);
	if (fd < 0)
		return fd;
	struct ringo__fd *pd = ringo__fd_new(fd, type == SOCK_STREAM ? FDK_STREAM : FDK_DGRAM);
	if (!pd) {
		close(fd);
		return -ENOMEM;
	}
	if (deadline > 0)
		ringo__fd_set_deadline(fd, DIR_WRITE, deadline);
	struct ringo__op op;
	memset(&op, 0, sizeof op);
	op.kind = OP_CONNECT;
	op.fd = fd;
	op.pd = pd;
	op.buf = (void *)sa;
	op.len = len;
	int64_t r = ringo__op_run(&op);
	if (r == -EISCONN)
		r = 0;
	if (r < 0) {
		ringo_close(fd);
		return (int)r;
	}
	if (deadline > 0)
		ringo__fd_set_deadline(fd, DIR_WRITE, 0);
	set_nodelay(fd, sa->sa_family, type);
	return fd;
}

static int dial(const char *network, const char *address, int64_t deadline)
{
	if (!ringo__np_g())
		return -EPERM;
	struct resolve rs;
	memset(&rs, 0, sizeof rs);
	int r = parse_network(network, &rs.ns);
	if (r < 0)
		return r;
	if (rs.ns.family == AF_UNIX) {
		struct sockaddr_un sun;
		socklen_t len;
		if ((r = unix_addr(address, &sun, &len)) < 0)
			return r;
		return dial_one((struct sockaddr *)&sun, len, rs.ns.type, deadline);
	}
	char buf[300];
	if ((r = split_hostport(address, buf, sizeof buf, &rs)) < 0)
		return r;
	if ((r = resolve(&rs)) < 0)
		return r;
	/* Each address in turn; the first error is the one reported. */
	int first = -EADDRNOTAVAIL;
	for (int i = 0; i < rs.n; i++) {
		if (deadline > 0 && ringo__nanotime() >= deadline)
			return i ? first : -ETIMEDOUT;
		r = dial_one((struct sockaddr *)&rs.addr[i], rs.len[i], rs.ns.type, deadline);
		if (r >= 0)
			return r;
		if (i == 0)
			first = r;
	}
	return first;
}

int ringo_dial(const char *network, const char *address)
{
	return dial(network, address, 0);
}

int ringo_dial_timeout(const char *network, const char *address, int64_t timeout_ns)
{
	if (timeout_ns <= 0)
		return timeout_ns < 0 ? -EINVAL : dial(network, address, 0);
	return dial(network, address, ringo__nanotime() + timeout_ns);
}

/* ------------------------------------------------------------------ */
/* Accept                                                                 */

#define ACCEPT_Q0 16

void ringo__accept_release(struct ringo__fd *pd)
{
	struct ringo__accept *acc = pd->acc;
	if (!acc)
		return;
	for (uint32_t i = 0; i < acc->qlen; i++)
		close(acc->q[(acc->qhead + i) % acc->qcap]);
	if (acc->q)
		ringo__free(acc->q, sizeof(int) * acc->qcap);
	ringo__free(acc, sizeof *acc);
	pd->acc = NULL;
}

static bool accept_push(struct ringo__accept *acc, int fd)
{
	if (acc->qlen == acc->qcap) {
		uint32_t cap = acc->qcap ? acc->qcap * 2 : ACCEPT_Q0;
		int *q = ringo__alloc(sizeof(int) * cap);
		if (!q)
			return false;
		for (uint32_t i = 0; i < acc->qlen; i++)
			q[i] = acc->q[(acc->qhead + i) % acc->qcap];
		if (acc->q)
			ringo__free(acc->q, sizeof(int) * acc->qcap);
		acc->q = q;
		acc->qcap = cap;
		acc->qhead = 0;
	}
	acc->q[(acc->qhead + acc->qlen++) % acc->qcap] = fd;
	return true;
}

/* First goroutine waiting in ringo_accept, or NULL (pd->lock held). */
static struct ringo__op *accept_waiter(struct ringo__fd *pd)
{
	struct ringo__op *w = NULL;
	for (struct ringo__op *op = pd->ops; op; op = op->next)
		if (op->kind == OP_ACCEPT)
			w = op;		/* the list is LIFO: the last is the oldest */
	if (w) {
		if (w->prev)
			w->prev->next = w->next;
		else
			pd->ops = w->next;
		if (w->next)
			w->next->prev = w->prev;
		w->next = w->prev = NULL;
	}
	return w;
}

void ringo__accept_complete(struct ringo__op *op, int res, uint32_t flags, struct ringo__glist *l)
{
	struct ringo__fd *pd = op->pd;
	ringo__lock(&pd->lock);
	struct ringo__accept *acc = pd->acc;
	struct ringo__op *w;
	if (res >= 0) {
		if (pd->closing) {
			close(res);
		} else if ((w = accept_waiter(pd))) {
			w->res = res;
			ringo__glist_push(l, w->g);
		} else if (!accept_push(acc, res)) {
			close(res);
		}
	}
	if (!(flags & IORING_CQE_F_MORE)) {
		/* The multishot is over: an error, a cancel, or the kernel
		 * stopped it. A waiter re-arms it (after a back-off for
		 * EMFILE and friends, in ringo_accept). */
		acc->armed = false;
		if (op->prev)
			op->prev->next = op->next;
		else
			pd->ops = op->next;
		if (op->next)
			op->next->prev = op->prev;
		op->next = op->prev = NULL;
		struct ringo_g *closer = ringo__fd_op_done(pd);
		if (closer)
			ringo__glist_push(l, closer);
		else if (!pd->closing) {
			int err = res < 0 && res != -ECANCELED ? res : -EAGAIN;
			if ((w = accept_waiter(pd))) {
				w->res = err;
				ringo__glist_push(l, w->g);
			} else if (err != -EAGAIN) {
				acc->err = err;
			}
		}
	}
	ringo__unlock(&pd->lock);
}

struct accept_wait {
	struct ringo__op w;
	bool arm;
};

static bool accept_park(struct ringo_g *g, void *arg)
{
	struct accept_wait *aw = arg;
	struct ringo__fd *pd = aw->w.pd;
	struct ringo__accept *acc = pd->acc;
	(void)g;
	/* pd->lock is held since ringo_accept looked at the queue. */
	aw->w.prev = NULL;
	aw->w.next = pd->ops;
	if (pd->ops)
		pd->ops->prev = &aw->w;
	pd->ops = &aw->w;
	ringo__nio_add(1);
	struct ringo__op *mop = NULL;
	if (!acc->armed) {
		acc->armed = true;
		mop = &acc->op;
		memset(mop, 0, sizeof *mop);
		mop->kind = OP_ACCEPT_MULTI;
		mop->fd = pd->fd;
		mop->pd = pd;
		mop->next = pd->ops;
		pd->ops->prev = mop;
		pd->ops = mop;
		pd->nops++;
	}
	ringo__unlock(&pd->lock);
	/* Queue after unlocking: making room in a full SQ may reap, and a
	 * completion takes pd->lock. A close meanwhile sees the op linked
	 * but not submitted, and the submitter cancels it (op.c). */
	if (mop)
		ringo__uring_queue(ringo__getm()->p->netpoll, mop);
	return true;
}

/* One accept on io_uring: from the queue, or wait for the multishot. */
static int accept_uring(struct ringo__fd *pd)
{
	for (;;) {
		ringo__lock(&pd->lock);
		int err = ringo__fd_check(pd, DIR_READ);
		if (err) {
			ringo__unlock(&pd->lock);
			return err;
		}
		if (pd->kind != FDK_LISTENER) {
			ringo__unlock(&pd->lock);
			return -EINVAL;
		}
		struct ringo__accept *acc = pd->acc;
		if (!acc) {
			acc = pd->acc = ringo__alloc(sizeof *acc);
			if (!acc) {
				ringo__unlock(&pd->lock);
				return -ENOMEM;
			}
		}
		if (acc->qlen) {
			int fd = acc->q[acc->qhead];
			acc->qhead = (acc->qhead + 1) % acc->qcap;
			acc->qlen--;
			ringo__unlock(&pd->lock);
			return fd;
		}
		if (acc->err) {
			err = acc->err;
			acc->err = 0;
			ringo__unlock(&pd->lock);
			return err;
		}
		struct accept_wait aw;
		memset(&aw, 0, sizeof aw);
		aw.w.kind = OP_ACCEPT;
		aw.w.dir = DIR_READ;
		aw.w.fd = pd->fd;
		aw.w.pd = pd;
		aw.w.g = ringo__np_g();
		aw.w.res = -EAGAIN;
		ringo__park(accept_park, &aw, "IO wait (accept)");
		if (aw.w.res != -EAGAIN)
			return (int)aw.w.res;
	}
}

static bool accept_retry_now(int r)
{
	return r == -ECONNABORTED || r == -EINTR || r == -EAGAIN;
}

static bool accept_backoff(int r)
{
	return r == -EMFILE || r == -ENFILE || r == -ENOBUFS || r == -ENOMEM;
}

int ringo_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen)
{
	if (!ringo__np_g())
		return -EPERM;
	if (addr && !addrlen)
		return -EINVAL;
	int err = 0;
	struct ringo__fd *pd = ringo__fd_get(lfd, &err);
	if (!pd)
		return err;
	int64_t backoff = 0;
	int r;
	for (;;) {
		if (ringo__np_uring()) {
			r = accept_uring(pd);
		} else {
			struct ringo__op op;
			memset(&op, 0, sizeof op);
			op.kind = OP_ACCEPT;
			op.fd = lfd;
			op.pd = pd;
			r = (int)ringo__op_run(&op);
		}
		if (r >= 0 || (!accept_retry_now(r) && !accept_backoff(r)))
			break;
		if (accept_backoff(r)) {
			backoff = backoff ? backoff * 2 : 5000000;
			if (backoff > 1000000000)
				backoff = 1000000000;
			ringo_sleep(backoff);
		}
	}
	if (r < 0)
		return r;
	if (!pd->family) {
		/* A listener ringo did not make: ask once. */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0)
			pd->family = (int16_t)ss.ss_family;
	}
	set_nodelay(r, pd->family, SOCK_STREAM);
	if (!ringo__fd_new(r, FDK_STREAM)) {
		close(r);
		return -ENOMEM;
	}
	if (addr && getpeername(r, addr, addrlen) < 0)
		*addrlen = 0;	/* the peer already went away: its address is unknown */
	return r;
}
