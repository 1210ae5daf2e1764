#include "topic.h"
#include "errmsg.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_MAX 255 /* bytes in a topic or pattern */
#define WORDS_MAX 256 /* words in a string of TOPIC_MAX bytes, empty words included */

/* ---- validation ------------------------------------------------------------------------------ */


static int word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == ':';
}

static int is_wild(unsigned char c) { return c == '*' || c == '#'; }

/* The one place topic and pattern errors are worded. */
static int check(const char *s, int patterns_ok, char *err, size_t errlen)
{
    if (!s || !*s)
        return errmsg(err, errlen, "topic is empty");
    if (strnlen(s, TOPIC_MAX + 1) > TOPIC_MAX)
        return errmsg(err, errlen, "topic is longer than %d bytes", TOPIC_MAX);
    int nword = 1;
    for (const char *w = s;; nword++) {
        size_t n = strcspn(w, ".");
        if (n == 0)
            return errmsg(err, errlen, "topic word %d is empty", nword);
        if (n == 1 && is_wild((unsigned char)w[0])) {
            if (!patterns_ok)
                return errmsg(err, errlen, "topic must not contain wildcards");
        } else {
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)w[i];
                if (word_char(c))
                    continue;
                if (is_wild(c))
                    return errmsg(err, errlen, "%s",
                                patterns_ok ? "'*' and '#' must stand as whole words"
                                            : "topic must not contain wildcards");
                if (c >= 0x20 && c < 0x7f)
                    return errmsg(err, errlen,
                                "topic word %d has '%c', allowed are letters, digits, _, - and :",
                                nword, c);
                return errmsg(err, errlen,
                            "topic word %d has byte 0x%02x, allowed are letters, digits, _, - and :",
                            nword, c);
            }
        }
        if (!w[n])
            return 0;
        w += n + 1;
    }
}

int topic_valid(const char *topic, char *err, size_t errlen) { return check(topic, 0, err, errlen); }

int topic_pattern_valid(const char *pattern, char *err, size_t errlen)
{
    return check(pattern, 1, err, errlen);
}

/* ---- one pattern against one topic ----------------------------------------------------------- */

typedef struct span {
    const char *p; /* first byte of the word (not NUL-terminated) */
    size_t n;      /* bytes in the word */
} span;

static int is_word(span w, char c) { return w.n == 1 && w.p[0] == c; }

/* Splits s at dots into w; returns the word count, or 0 if s has more than max words. */
static size_t split(const char *s, span *w, size_t max)
{
    size_t nw = 0;
    for (;;) {
        size_t n = strcspn(s, ".");
        if (nw == max)
            return 0;
        w[nw++] = (span){s, n};
        if (!s[n])
            return nw;
        s += n + 1;
    }
}

/* '#' may match nothing: wherever a '#' is live, the position after it is live too. */
static void skip_hashes(unsigned char *live, const span *pw, size_t np)
{
    for (size_t i = 0; i < np; i++)
        if (live[i] && is_word(pw[i], '#'))
            live[i + 1] = 1;
}

/* An NFA over pattern positions, stepped once per topic word: O(pattern words * topic words) however
 * many '#' the pattern has. live[i] means "pattern words before i matched the topic words so far". */
int topic_match(const char *pattern, const char *topic)
{
    if (!pattern || !topic || !*pattern || !*topic)
        return 0;
    if (strnlen(pattern, TOPIC_MAX + 1) > TOPIC_MAX || strnlen(topic, TOPIC_MAX + 1) > TOPIC_MAX)
        return 0;
    span pw[WORDS_MAX], tw[WORDS_MAX];
    size_t np = split(pattern, pw, WORDS_MAX), nt = split(topic, tw, WORDS_MAX);
    unsigned char a[WORDS_MAX + 1] = {0}, b[WORDS_MAX + 1];
    unsigned char *live = a, *next = b;
    live[0] = 1;
    skip_hashes(live, pw, np);
    for (size_t t = 0; t < nt; t++) {
        int any = 0;
        memset(next, 0, np + 1);
        for (size_t i = 0; i < np; i++) {
            if (!live[i])
                continue;
            if (is_word(pw[i], '#'))
                next[i] = 1, any = 1;
            else if (is_word(pw[i], '*') || (pw[i].n == tw[t].n && !memcmp(pw[i].p, tw[t].p, pw[i].n)))
                next[i + 1] = 1, any = 1;
        }
        if (!any)
            return 0;
        skip_hashes(next, pw, np);
        unsigned char *tmp = live;
        live = next;
        next = tmp;
    }
    return live[np];
}

/* ---- the index --------------------------------------------------------------------------------- */

typedef struct node node;
struct node {
    node **kids;    /* open-addressing table of literal children (NULL = free slot), or NULL */
    size_t nkids;   /* literal children in kids */
    size_t kidcap;  /* slots in kids: 0 or a power of two */
    node *star;     /* child reached by '*', or NULL */
    node *hash;     /* child reached by '#', or NULL */
    int is_hash;    /* 1 if this node is reached by '#': it then also absorbs any further word */
    void **values;  /* values added under the pattern that ends here, in insertion order */
    size_t nvalues; /* values used */
    size_t valcap;  /* values allocated */
    uint32_t h;     /* hash of word */
    size_t len;     /* bytes in word */
    char word[];    /* literal word that leads here (NUL-terminated); "" for root, '*' and '#' nodes */
};

struct topic_index {
    node *root; /* the empty pattern prefix */
};

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        abort(); /* as in buf: out-of-memory is not a recoverable state here */
    return p;
}

static node *node_new(const char *w, size_t n, uint32_t h)
{
    node *x = xrealloc(NULL, sizeof *x + n + 1);
    memset(x, 0, sizeof *x);
    memcpy(x->word, w, n);
    x->word[n] = '\0';
    x->len = n;
    x->h = h;
    return x;
}

static void node_free(node *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->kidcap; i++)
        node_free(x->kids[i]);
    node_free(x->star);
    node_free(x->hash);
    free(x->kids);
    free(x->values);
    free(x);
}

static uint32_t fnv1a(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static node *find_kid(const node *x, const char *w, size_t n, uint32_t h)
{
    if (!x->kidcap)
        return NULL;
    size_t mask = x->kidcap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        node *k = x->kids[i];
        if (!k)
            return NULL;
        if (k->h == h && k->len == n && !memcmp(k->word, w, n))
            return k;
    }
}

static void put_kid(node *x, node *k)
{
    size_t mask = x->kidcap - 1, i = k->h & mask;
    while (x->kids[i])
        i = (i + 1) & mask;
    x->kids[i] = k;
    x->nkids++;
}

static node *add_kid(node *x, const char *w, size_t n, uint32_t h)
{
    if ((x->nkids + 1) * 4 > x->kidcap * 3) { /* keep the table at most 3/4 full */
        size_t oldcap = x->kidcap, cap = oldcap ? oldcap * 2 : 4;
        node **old = x->kids;
        x->kids = xrealloc(NULL, cap * sizeof *x->kids);
        memset(x->kids, 0, cap * sizeof *x->kids);
        x->kidcap = cap;
        x->nkids = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i])
                put_kid(x, old[i]);
        free(old);
    }
    node *k = node_new(w, n, h);
    put_kid(x, k);
    return k;
}

topic_index *topic_index_new(void)
{
    topic_index *ix = xrealloc(NULL, sizeof *ix);
    ix->root = node_new("", 0, 0);
    return ix;
}

int topic_index_add(topic_index *ix, const char *pattern, void *value)
{
    if (!ix || topic_pattern_valid(pattern, NULL, 0) != 0)
        return -1;
    node *x = ix->root;
    for (const char *w = pattern;;) {
        size_t n = strcspn(w, ".");
        if (n == 1 && w[0] == '*') {
            if (!x->star)
                x->star = node_new("", 0, 0);
            x = x->star;
        } else if (n == 1 && w[0] == '#') {
            if (!x->hash) {
                x->hash = node_new("", 0, 0);
                x->hash->is_hash = 1;
            }
            x = x->hash;
        } else {
            uint32_t h = fnv1a(w, n);
            node *k = find_kid(x, w, n, h);
            x = k ? k : add_kid(x, w, n, h);
        }
        if (!w[n])
            break;
        w += n + 1;
    }
    if (x->nvalues == x->valcap) {
        x->valcap = x->valcap ? x->valcap * 2 : 2;
        x->values = xrealloc(x->values, x->valcap * sizeof *x->values);
    }
    x->values[x->nvalues++] = value;
    return 0;
}

void topic_index_free(topic_index *ix)
{
    if (!ix)
        return;
    node_free(ix->root);
    free(ix);
}

/* Scratch space of one match call, on the caller's stack until a walk outgrows it. The index itself
 * is never written during a match, so any number of threads may match at once. */
typedef struct vec {
    const node **v;         /* items: stack, or heap once grown */
    size_t n;               /* items used */
    size_t cap;             /* items that fit in v */
    const node *stack[32];  /* first items: ordinary topics never malloc */
} vec;

typedef struct set {
    const node **slot;      /* open-addressing table of nodes (NULL = free slot) */
    size_t n;               /* nodes in the table */
    size_t cap;             /* slots: a power of two */
    const node *stack[64];  /* first slots */
} set;

static void vec_init(vec *a)
{
    a->v = a->stack;
    a->n = 0;
    a->cap = sizeof a->stack / sizeof a->stack[0];
}

static void push(vec *a, const node *x)
{
    if (a->n == a->cap) {
        const node **v = xrealloc(a->v == a->stack ? NULL : a->v, a->cap * 2 * sizeof *v);
        if (a->v == a->stack)
            memcpy(v, a->stack, sizeof a->stack);
        a->v = v;
        a->cap *= 2;
    }
    a->v[a->n++] = x;
}

static void vec_free(vec *a)
{
    if (a->v != a->stack)
        free(a->v);
}

static void set_init(set *s)
{
    s->slot = s->stack;
    s->n = 0;
    s->cap = sizeof s->stack / sizeof s->stack[0];
    memset(s->stack, 0, sizeof s->stack);
}

static size_t slot_of(const node *x, size_t cap)
{
    return (size_t)(((uint64_t)(uintptr_t)x * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static void set_grow(set *s)
{
    size_t oldcap = s->cap;
    const node **old = s->slot;
    s->cap *= 2;
    s->slot = xrealloc(NULL, s->cap * sizeof *s->slot);
    memset(s->slot, 0, s->cap * sizeof *s->slot);
    for (size_t j = 0; j < oldcap; j++) {
        if (!old[j])
            continue;
        size_t i = slot_of(old[j], s->cap);
        while (s->slot[i])
            i = (i + 1) & (s->cap - 1);
        s->slot[i] = old[j];
    }
    if (old != s->stack)
        free(old);
}

/* Returns 1 if x was added, 0 if it was there already. */
static int set_add(set *s, const node *x)
{
    if ((s->n + 1) * 2 > s->cap) /* keep the table at most half full */
        set_grow(s);
    size_t mask = s->cap - 1, i = slot_of(x, s->cap);
    for (; s->slot[i]; i = (i + 1) & mask)
        if (s->slot[i] == x)
            return 0;
    s->slot[i] = x;
    s->n++;
    return 1;
}

static void set_free(set *s)
{
    if (s->slot != s->stack)
        free(s->slot);
}

typedef struct walk {
    vec frontier[2]; /* nodes reached by exactly the topic words so far (never '#' nodes) */
    vec hashes;      /* '#' nodes reached so far, in order: once reached, a '#' node stays reached */
    set seen;        /* the nodes in hashes, for the dedupe */
    size_t visits;   /* nodes entered: the cost of the walk */
} walk;

/* Enters the '#' child of x, and its '#' child in turn ("a.#.#"): '#' may match zero words. A '#'
 * node reached by several paths is entered once, so each value is reported once. */
static void enter_hashes(walk *k, const node *x)
{
    for (const node *h = x->hash; h && set_add(&k->seen, h); h = h->hash) {
        push(&k->hashes, h);
        k->visits++;
    }
}

static void step(walk *k, const node *x, vec *next, const char *w, size_t n, uint32_t h)
{
    const node *kid = find_kid(x, w, n, h);
    if (kid)
        push(next, kid), k->visits++;
    if (x->star)
        push(next, x->star), k->visits++;
}

static void report(const vec *a, void (*fn)(void *value, void *ctx), void *ctx)
{
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < a->v[i]->nvalues; j++)
            fn(a->v[i]->values[j], ctx);
}

/* A breadth-first walk, one level per topic word. Each non-'#' node has one parent and one edge, so
 * the frontier never holds a node twice; '#' nodes absorb every later word, so they sit in their own
 * list, each entered once. Cost: (topic words) x (live pattern prefixes), never the whole index. */
void topic_index_match_counted(const topic_index *ix, const char *topic,
                               void (*fn)(void *value, void *ctx), void *ctx, size_t *visits)
{
    if (visits)
        *visits = 0;
    if (!ix || !topic || !*topic || !fn)
        return;
    walk k;
    vec_init(&k.frontier[0]);
    vec_init(&k.frontier[1]);
    vec_init(&k.hashes);
    set_init(&k.seen);
    k.visits = 1;
    vec *cur = &k.frontier[0], *next = &k.frontier[1];
    push(cur, ix->root);
    enter_hashes(&k, ix->root);
    for (const char *w = topic;;) {
        size_t n = strcspn(w, ".");
        uint32_t h = fnv1a(w, n);
        size_t nh = k.hashes.n; /* '#' nodes entered below start absorbing with the next word */
        next->n = 0;
        for (size_t i = 0; i < cur->n; i++)
            step(&k, cur->v[i], next, w, n, h);
        for (size_t i = 0; i < nh; i++)
            step(&k, k.hashes.v[i], next, w, n, h);
        for (size_t i = 0; i < next->n; i++)
            enter_hashes(&k, next->v[i]);
        vec *tmp = cur;
        cur = next;
        next = tmp;
        if (!w[n] || (cur->n == 0 && k.hashes.n == 0))
            break;
        w += n + 1;
    }
    /* after an early stop (nothing live) both lists are empty */
    report(cur, fn, ctx);
    report(&k.hashes, fn, ctx);
    if (visits)
        *visits = k.visits;
    vec_free(&k.frontier[0]);
    vec_free(&k.frontier[1]);
    vec_free(&k.hashes);
    set_free(&k.seen);
}

void topic_index_match(const topic_index *ix, const char *topic, void (*fn)(void *value, void *ctx),
                       void *ctx)
{
    topic_index_match_counted(ix, topic, fn, ctx, NULL);
}
