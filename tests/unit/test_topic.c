/* Topic names, patterns, the matcher and the index. */
#include "check.h"
#include "topic.h"

#include <pthread.h>
#include <stdint.h>

static char err[256];

static const char *valid_err(const char *topic)
{
    err[0] = '\0';
    return topic_valid(topic, err, sizeof err) == 0 ? "ok" : err;
}

static const char *pattern_err(const char *pattern)
{
    err[0] = '\0';
    return topic_pattern_valid(pattern, err, sizeof err) == 0 ? "ok" : err;
}

/* ---- validation ---- */

TEST(test_topic_words_take_letters_digits_underscore_dash_colon)
{
    CHECK_STR(valid_err("orders"), "ok");
    CHECK_STR(valid_err("orders.created"), "ok");
    CHECK_STR(valid_err("Acme_1:eu-west.orders.v2"), "ok");
}

TEST(test_empty_topic_is_refused)
{
    CHECK_STR(valid_err(""), "topic is empty");
    CHECK_STR(pattern_err(""), "topic is empty");
    CHECK_INT(topic_valid(NULL, err, sizeof err), -1);
}

TEST(test_topic_of_255_bytes_is_the_longest)
{
    char t[300];
    memset(t, 'a', 255);
    t[255] = '\0';
    CHECK_STR(valid_err(t), "ok");
    t[255] = 'a';
    t[256] = '\0';
    CHECK_STR(valid_err(t), "topic is longer than 255 bytes");
    CHECK_STR(pattern_err(t), "topic is longer than 255 bytes");
}

TEST(test_empty_word_is_named_by_position)
{
    CHECK_STR(valid_err("a.b..c"), "topic word 3 is empty");
    CHECK_STR(valid_err(".a"), "topic word 1 is empty");
    CHECK_STR(valid_err("a.b."), "topic word 3 is empty");
    CHECK_STR(pattern_err("a.*."), "topic word 3 is empty");
}

TEST(test_bad_character_is_named_with_its_word)
{
    CHECK_STR(valid_err("a.b/c"), "topic word 2 has '/', allowed are letters, digits, _, - and :");
    CHECK_STR(valid_err("a b"), "topic word 1 has ' ', allowed are letters, digits, _, - and :");
    CHECK_STR(pattern_err("x.*.a$"), "topic word 3 has '$', allowed are letters, digits, _, - and :");
}

TEST(test_unprintable_byte_is_shown_in_hex)
{
    CHECK_STR(valid_err("a.\x01"), "topic word 2 has byte 0x01, allowed are letters, digits, _, - and :");
    CHECK_STR(valid_err("caf\xc3\xa9"), "topic word 1 has byte 0xc3, allowed are letters, digits, _, - and :");
}

TEST(test_topic_must_not_contain_wildcards)
{
    CHECK_STR(valid_err("orders.*"), "topic must not contain wildcards");
    CHECK_STR(valid_err("#"), "topic must not contain wildcards");
    CHECK_STR(valid_err("orders.cre*"), "topic must not contain wildcards");
}

TEST(test_pattern_takes_star_and_hash_as_whole_words)
{
    CHECK_STR(pattern_err("orders.*"), "ok");
    CHECK_STR(pattern_err("orders.#"), "ok");
    CHECK_STR(pattern_err("#"), "ok");
    CHECK_STR(pattern_err("*.a.#.#.*"), "ok");
    CHECK_STR(pattern_err("orders"), "ok");
}

TEST(test_wildcards_must_stand_as_whole_words)
{
    CHECK_STR(pattern_err("orders.cre*"), "'*' and '#' must stand as whole words");
    CHECK_STR(pattern_err("##"), "'*' and '#' must stand as whole words");
    CHECK_STR(pattern_err("a.*#"), "'*' and '#' must stand as whole words");
}

TEST(test_error_buffer_may_be_null_or_tiny)
{
    CHECK_INT(topic_valid("a..b", NULL, 0), -1);
    char tiny[6] = "xxxxx";
    CHECK_INT(topic_valid("a..b", tiny, sizeof tiny), -1);
    CHECK_STR(tiny, "topic");
    CHECK_INT(topic_pattern_valid("a.#", NULL, 0), 0);
}

/* ---- topic_match ---- */

TEST(test_exact_pattern_matches_only_itself)
{
    CHECK(topic_match("orders.created", "orders.created"));
    CHECK(!topic_match("orders.created", "orders.create"));
    CHECK(!topic_match("orders.created", "orders.created.x"));
    CHECK(!topic_match("orders.created", "orders"));
    CHECK(!topic_match("orders", "Orders"));
}

TEST(test_star_needs_exactly_one_word)
{
    CHECK(topic_match("orders.*", "orders.created"));
    CHECK(!topic_match("orders.*", "orders"));
    CHECK(!topic_match("orders.*", "orders.a.b"));
    CHECK(topic_match("*.created", "orders.created"));
    CHECK(topic_match("*.*", "a.b"));
    CHECK(!topic_match("*.*", "a"));
}

TEST(test_hash_matches_zero_words)
{
    CHECK(topic_match("orders.#", "orders"));
    CHECK(topic_match("#.orders", "orders"));
    CHECK(topic_match("a.#.b", "a.b"));
    CHECK(topic_match("a.#.#.b", "a.b"));
}

TEST(test_hash_matches_many_words)
{
    CHECK(topic_match("orders.#", "orders.a"));
    CHECK(topic_match("orders.#", "orders.a.b"));
    CHECK(topic_match("a.#.b", "a.x.b"));
    CHECK(topic_match("a.#.b", "a.x.y.b"));
    CHECK(!topic_match("a.#.b", "a.x.y"));
    CHECK(!topic_match("orders.#", "invoices.a"));
}

TEST(test_lone_hash_matches_everything)
{
    CHECK(topic_match("#", "a"));
    CHECK(topic_match("#", "a.b.c"));
    CHECK(topic_match("#.#", "a"));
}

TEST(test_star_and_hash_combine)
{
    CHECK(topic_match("*.#", "a"));
    CHECK(topic_match("#.*", "a.b.c"));
    CHECK(!topic_match("*.*.#", "a"));
    CHECK(topic_match("#.b.*", "a.b.c"));
    CHECK(!topic_match("#.b.*", "a.b"));
}

TEST(test_many_hashes_do_not_go_exponential)
{
    /* 100 '#' against 120 words with no final "z": a backtracking matcher would not finish. */
    char pat[256] = "", top[256] = "";
    for (int i = 0; i < 100; i++)
        strcat(pat, "#.");
    strcat(pat, "z");
    for (int i = 0; i < 120; i++)
        strcat(top, i ? ".a" : "a");
    CHECK(!topic_match(pat, top));
    top[strlen(top) - 1] = 'z';
    CHECK(topic_match(pat, top));
}

TEST(test_match_of_empty_or_overlong_input_is_false)
{
    char t[300];
    memset(t, 'a', 299);
    t[299] = '\0';
    CHECK(!topic_match("#", ""));
    CHECK(!topic_match("", "a"));
    CHECK(!topic_match("#", t));
    CHECK(!topic_match(NULL, "a"));
}

/* ---- reference matcher and random generators for the cross-checks ---- */

static uint64_t rng = 0x5eed5eedULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* Backtracking, exponential, obviously right: the oracle for small inputs. */
static int naive(char **p, int np, char **t, int nt)
{
    if (np == 0)
        return nt == 0;
    if (!strcmp(p[0], "#"))
        return naive(p + 1, np - 1, t, nt) || (nt > 0 && naive(p, np, t + 1, nt - 1));
    if (nt == 0)
        return 0;
    return (!strcmp(p[0], "*") || !strcmp(p[0], t[0])) && naive(p + 1, np - 1, t + 1, nt - 1);
}

static int words(char *s, char **w)
{
    int n = 0;
    for (char *tok = strtok(s, "."); tok; tok = strtok(NULL, "."))
        w[n++] = tok;
    return n;
}

static void random_words(char *out, unsigned maxwords, const char *const *alphabet, unsigned nalpha)
{
    unsigned n = 1 + rnd(maxwords);
    out[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        if (i)
            strcat(out, ".");
        strcat(out, alphabet[rnd(nalpha)]);
    }
}

static const char *const PAT_WORDS[] = {"a", "b", "c", "*", "#", "#", "*"};
static const char *const TOP_WORDS[] = {"a", "b", "c"};

TEST(test_match_agrees_with_backtracking_matcher)
{
    rng = 42;
    for (int i = 0; i < 20000; i++) {
        char pat[64], top[64], pc[64], tc[64];
        char *pw[16], *tw[16];
        random_words(pat, 6, PAT_WORDS, 7);
        random_words(top, 7, TOP_WORDS, 3);
        strcpy(pc, pat);
        strcpy(tc, top);
        int want = naive(pw, words(pc, pw), tw, words(tc, tw));
        if (topic_match(pat, top) != want) {
            fprintf(stderr, "  pattern %s topic %s: want %d\n", pat, top, want);
            CHECK(0);
            return;
        }
    }
}

/* ---- topic_index ---- */

typedef struct hits {
    void *got[64]; /* values reported, in order */
    int n;         /* values reported */
} hits;

static void collect(void *value, void *ctx)
{
    hits *h = ctx;
    if (h->n < 64)
        h->got[h->n] = value;
    h->n++;
}

static int count_of(const hits *h, void *value)
{
    int c = 0;
    for (int i = 0; i < h->n && i < 64; i++)
        c += h->got[i] == value;
    return c;
}

static hits lookup(const topic_index *ix, const char *topic)
{
    hits h = {{0}, 0};
    topic_index_match(ix, topic, collect, &h);
    return h;
}

static int v[16]; /* distinct addresses to use as values */

TEST(test_index_reports_exact_topic_values_in_insertion_order)
{
    topic_index *ix = topic_index_new();
    CHECK_INT(topic_index_add(ix, "orders.created", &v[0]), 0);
    CHECK_INT(topic_index_add(ix, "orders.created", &v[1]), 0);
    CHECK_INT(topic_index_add(ix, "orders.deleted", &v[2]), 0);
    hits h = lookup(ix, "orders.created");
    CHECK_INT(h.n, 2);
    CHECK(h.got[0] == &v[0]);
    CHECK(h.got[1] == &v[1]);
    CHECK_INT(lookup(ix, "orders").n, 0);
    CHECK_INT(lookup(ix, "orders.created.x").n, 0);
    topic_index_free(ix);
}

TEST(test_index_reports_star_and_hash_patterns)
{
    topic_index *ix = topic_index_new();
    topic_index_add(ix, "orders.*", &v[0]);
    topic_index_add(ix, "orders.#", &v[1]);
    topic_index_add(ix, "#", &v[2]);
    topic_index_add(ix, "a.#.b", &v[3]);
    topic_index_add(ix, "*.created", &v[4]);
    hits h = lookup(ix, "orders");
    CHECK_INT(h.n, 2);
    CHECK_INT(count_of(&h, &v[1]), 1);
    CHECK_INT(count_of(&h, &v[2]), 1);
    h = lookup(ix, "orders.created");
    CHECK_INT(h.n, 4);
    CHECK_INT(count_of(&h, &v[3]), 0);
    h = lookup(ix, "a.x.y.b");
    CHECK_INT(h.n, 2);
    CHECK_INT(count_of(&h, &v[3]), 1);
    CHECK_INT(lookup(ix, "a.b").n, 2);
    topic_index_free(ix);
}

TEST(test_index_does_not_report_value_twice)
{
    topic_index *ix = topic_index_new();
    topic_index_add(ix, "a.#.#", &v[0]);
    topic_index_add(ix, "#.#.#", &v[1]);
    topic_index_add(ix, "#.a.#", &v[2]);
    topic_index_add(ix, "#.a.#.a.#", &v[3]);
    const char *topics[] = {"a", "a.a", "a.a.a.a", "a.b.a.b.a"};
    for (size_t t = 0; t < sizeof topics / sizeof *topics; t++) {
        hits h = lookup(ix, topics[t]);
        CHECK_INT(count_of(&h, &v[0]), 1);
        CHECK_INT(count_of(&h, &v[1]), 1);
        CHECK_INT(count_of(&h, &v[2]), 1);
        CHECK_INT(count_of(&h, &v[3]), t >= 1);
        CHECK_INT(h.n, 3 + (t >= 1));
    }
    topic_index_free(ix);
}

TEST(test_index_reports_value_once_per_pattern_it_was_added_under)
{
    topic_index *ix = topic_index_new();
    topic_index_add(ix, "orders.*", &v[0]);
    topic_index_add(ix, "orders.#", &v[0]);
    CHECK_INT(lookup(ix, "orders.x").n, 2);
    CHECK_INT(lookup(ix, "orders").n, 1);
    topic_index_free(ix);
}

TEST(test_index_refuses_invalid_pattern)
{
    topic_index *ix = topic_index_new();
    CHECK_INT(topic_index_add(ix, "orders.cre*", &v[0]), -1);
    CHECK_INT(topic_index_add(ix, "a..b", &v[0]), -1);
    CHECK_INT(topic_index_add(ix, "", &v[0]), -1);
    CHECK_INT(lookup(ix, "a").n, 0);
    topic_index_free(ix);
}

TEST(test_empty_index_matches_nothing)
{
    topic_index *ix = topic_index_new();
    CHECK_INT(lookup(ix, "a.b").n, 0);
    CHECK_INT(lookup(ix, "").n, 0);
    topic_index_free(ix);
    topic_index_free(NULL);
}

static size_t visits_for(const topic_index *ix, const char *topic, int *n)
{
    hits h = {{0}, 0};
    size_t visits = 0;
    topic_index_match_counted(ix, topic, collect, &h, &visits);
    *n = h.n;
    return visits;
}

TEST(test_index_lookup_ignores_unrelated_patterns)
{
    topic_index *small = topic_index_new(), *big = topic_index_new();
    const char *mine[] = {"orders.created", "orders.*", "orders.#", "#.created"};
    for (int i = 0; i < 4; i++) {
        topic_index_add(small, mine[i], &v[i]);
        topic_index_add(big, mine[i], &v[i]);
    }
    char pat[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(pat, sizeof pat, "svc%d.orders.created", i);
        topic_index_add(big, pat, &v[5]);
        snprintf(pat, sizeof pat, "svc%d.*.#", i);
        topic_index_add(big, pat, &v[6]);
        snprintf(pat, sizeof pat, "orders.x%d", i);
        topic_index_add(big, pat, &v[7]);
        snprintf(pat, sizeof pat, "#.y%d", i);
        topic_index_add(big, pat, &v[8]);
    }
    int nsmall, nbig;
    size_t vsmall = visits_for(small, "orders.created", &nsmall);
    size_t vbig = visits_for(big, "orders.created", &nbig);
    CHECK_INT(nsmall, 4);
    CHECK_INT(nbig, 4);
    CHECK_INT(vbig, vsmall);
    CHECK(vbig < 16);
    topic_index_free(small);
    topic_index_free(big);
}

TEST(test_index_many_hashes_stay_linear)
{
    topic_index *ix = topic_index_new();
    char pat[256] = "";
    for (int i = 0; i < 127; i++)
        strcat(pat, "#.");
    strcat(pat, "#");
    CHECK_INT(topic_index_add(ix, pat, &v[0]), 0);
    char top[256] = "";
    for (int i = 0; i < 128; i++)
        strcat(top, i ? ".a" : "a");
    int n;
    size_t visits = visits_for(ix, top, &n);
    CHECK_INT(n, 1);
    CHECK(visits <= 200); /* 128 '#' nodes, each entered once */
    topic_index_free(ix);
}

typedef struct tally {
    int *got;        /* reports per pattern slot */
    const int *base; /* values are &base[slot] */
} tally;

static void count(void *value, void *ctx)
{
    tally *t = ctx;
    t->got[(const int *)value - t->base]++;
}

TEST(test_index_agrees_with_topic_match_on_random_patterns)
{
    enum { NPAT = 400, NTOP = 3000 };
    static char pats[NPAT][64];
    static int vals[NPAT], got[NPAT];
    rng = 7;
    topic_index *ix = topic_index_new();
    for (int i = 0; i < NPAT; i++) {
        random_words(pats[i], 6, PAT_WORDS, 7);
        CHECK_INT(topic_index_add(ix, pats[i], &vals[i]), 0);
    }
    tally t = {got, vals};
    for (int n = 0; n < NTOP; n++) {
        char top[64];
        random_words(top, 8, TOP_WORDS, 3);
        memset(got, 0, sizeof got);
        topic_index_match(ix, top, count, &t);
        for (int i = 0; i < NPAT; i++) {
            if (got[i] != topic_match(pats[i], top)) {
                fprintf(stderr, "  topic %s pattern %s: reported %d times\n", top, pats[i], got[i]);
                CHECK(0);
                topic_index_free(ix);
                return;
            }
        }
    }
    topic_index_free(ix);
}

typedef struct reader {
    const topic_index *ix; /* shared, read-only */
    int bad;               /* lookups that returned the wrong count */
} reader;

static void *read_many(void *arg)
{
    reader *r = arg;
    for (int i = 0; i < 20000; i++)
        if (lookup(r->ix, i % 2 ? "orders.created" : "a.x.y.b").n != (i % 2 ? 4 : 2))
            r->bad++;
    return NULL;
}

TEST(test_index_serves_concurrent_readers)
{
    topic_index *ix = topic_index_new();
    topic_index_add(ix, "orders.*", &v[0]);
    topic_index_add(ix, "orders.#", &v[1]);
    topic_index_add(ix, "#", &v[2]);
    topic_index_add(ix, "a.#.b", &v[3]);
    topic_index_add(ix, "*.created", &v[4]);
    pthread_t th[4];
    reader r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (reader){ix, 0};
        CHECK_INT(pthread_create(&th[i], NULL, read_many, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(r[i].bad, 0);
    }
    topic_index_free(ix);
}

CHECK_MAIN
