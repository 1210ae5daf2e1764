#include "loop.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_HOOKS 8
#define MAX_EVENTS 64

typedef struct watcher {
    loop_io_fn fn;
    void *arg;
    unsigned events;   /* LOOP_IN | LOOP_OUT as registered */
} watcher;

struct loop {
    int ep;                  /* epoll instance */
    int wake;                /* eventfd: loop_wake */
    watcher **by_fd;         /* watcher of each fd, or NULL; owned */
    size_t cap;              /* entries in by_fd */
    struct {
        loop_wait_fn fn;
        void *arg;
    } before[MAX_HOOKS];
    int n_before;
    struct {
        loop_fn fn;
        void *arg;
    } at_exit[MAX_HOOKS];
    int n_exit;
    int skip_wait;           /* loop_skip_wait was called during this round's hooks */
};

static __thread loop *current;

loop *loop_current(void) { return current; }

loop *loop_new(char *err, size_t errlen)
{
    loop *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = -1};
    if (l->ep < 0 || l->wake < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &ev) != 0) {
        snprintf(err, errlen, "cannot make an event loop: %s", strerror(errno));
        if (l->ep >= 0)
            close(l->ep);
        if (l->wake >= 0)
            close(l->wake);
        free(l);
        return NULL;
    }
    return l;
}

void loop_run_exit(loop *l)
{
    while (l->n_exit > 0) {
        l->n_exit--;
        l->at_exit[l->n_exit].fn(l->at_exit[l->n_exit].arg);
    }
}

void loop_free(loop *l)
{
    if (!l)
        return;
    loop_run_exit(l);
    for (size_t i = 0; i < l->cap; i++)
        free(l->by_fd[i]);
    free(l->by_fd);
    close(l->ep);
    close(l->wake);
    if (current == l)
        current = NULL;
    free(l);
}

static uint32_t epoll_events(unsigned events)
{
    return (events & LOOP_IN ? EPOLLIN | EPOLLRDHUP : 0) | (events & LOOP_OUT ? EPOLLOUT : 0);
}

int loop_watch(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg)
{
    if (fd < 0)
        return -1;
    if ((size_t)fd >= l->cap) {
        size_t cap = l->cap ? l->cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        watcher **by_fd = realloc(l->by_fd, cap * sizeof *by_fd);
        if (!by_fd)
            return -1;
        memset(by_fd + l->cap, 0, (cap - l->cap) * sizeof *by_fd);
        l->by_fd = by_fd;
        l->cap = cap;
    }
    watcher *w = l->by_fd[fd];
    int op = w ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (w && w->events == events) {
        w->fn = fn, w->arg = arg;
        return 0;
    }
    struct epoll_event ev = {.events = epoll_events(events), .data.fd = fd};
    if (epoll_ctl(l->ep, op, fd, &ev) != 0)
        return -1;
    if (!w && !(w = l->by_fd[fd] = calloc(1, sizeof *w))) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
        return -1;
    }
    w->fn = fn, w->arg = arg, w->events = events;
    return 0;
}

void loop_unwatch(loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->cap || !l->by_fd[fd])
        return;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
    free(l->by_fd[fd]);
    l->by_fd[fd] = NULL;
}

int loop_before_wait(loop *l, loop_wait_fn fn, void *arg)
{
    if (l->n_before == MAX_HOOKS)
        return -1;
    l->before[l->n_before].fn = fn;
    l->before[l->n_before].arg = arg;
    l->n_before++;
    return 0;
}

int loop_on_exit(loop *l, loop_fn fn, void *arg)
{
    if (l->n_exit == MAX_HOOKS)
        return -1;
    l->at_exit[l->n_exit].fn = fn;
    l->at_exit[l->n_exit].arg = arg;
    l->n_exit++;
    return 0;
}

int loop_run_once(loop *l, int timeout_ms)
{
    current = l;
    l->skip_wait = 0;
    for (int i = 0; i < l->n_before; i++) {
        int limit = l->before[i].fn(l->before[i].arg);
        if (limit >= 0 && (timeout_ms < 0 || limit < timeout_ms))
            timeout_ms = limit;
    }
    if (l->skip_wait)
        timeout_ms = 0;
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(l->ep, evs, MAX_EVENTS, timeout_ms);
    int handled = 0;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd < 0) {   /* loop_wake */
            uint64_t v;
            while (read(l->wake, &v, sizeof v) > 0) {
            }
            continue;
        }
        watcher *w = (size_t)fd < l->cap ? l->by_fd[fd] : NULL;
        if (!w)
            continue;   /* unwatched by an earlier callback of this round */
        uint32_t e = evs[i].events;
        unsigned events = (e & (EPOLLIN | EPOLLRDHUP) ? LOOP_IN : 0) |
                          (e & EPOLLOUT ? LOOP_OUT : 0) | (e & (EPOLLERR | EPOLLHUP) ? LOOP_ERR : 0);
        w->fn(w->arg, events);
        handled++;
    }
    return handled;
}

void loop_skip_wait(loop *l) { l->skip_wait = 1; }

void loop_wake(loop *l)
{
    uint64_t one = 1;
    ssize_t rc = write(l->wake, &one, sizeof one);
    (void)rc;   /* EAGAIN: a wake is already pending, which is all this asks for */
}
