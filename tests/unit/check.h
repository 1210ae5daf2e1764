/* check — the unit-test runner: TEST(name) { ... } defines a test; CHECK* record failures.
 * Each test file is one executable whose main() is CHECK_MAIN; ctest runs it. Output ends with
 * "N passed, N failed". A test name filter may be given as argv[1] (substring). */
#ifndef SY_CHECK_H
#define SY_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*check_fn)(void);
struct check_case { const char *name; check_fn fn; };
static struct check_case check_cases[512];
static int check_ncases;
static int check_failed_now;

static inline void check_register(const char *name, check_fn fn)
{
    if (check_ncases < 512)
        check_cases[check_ncases++] = (struct check_case){name, fn};
}

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void check_reg_##name(void) { check_register(#name, name); } \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            check_failed_now = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,  \
                    check_a_, #b, check_b_);                                                       \
            check_failed_now = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                           \
            fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,    \
                    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");               \
            check_failed_now = 1;                                                                  \
        }                                                                                          \
    } while (0)

/* err contains the substring want */
#define CHECK_HAS(hay, want)                                                                       \
    do {                                                                                           \
        const char *check_h_ = (hay);                                                              \
        if (!check_h_ || !strstr(check_h_, (want))) {                                              \
            fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,       \
                    check_h_ ? check_h_ : "(null)", (want));                                       \
            check_failed_now = 1;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_MAIN                                                                                 \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        int passed = 0, failed = 0;                                                                \
        for (int i = 0; i < check_ncases; i++) {                                                   \
            if (argc > 1 && !strstr(check_cases[i].name, argv[1]))                                 \
                continue;                                                                          \
            check_failed_now = 0;                                                                  \
            check_cases[i].fn();                                                                   \
            printf("%s %s\n", check_failed_now ? "FAIL" : "ok  ", check_cases[i].name);            \
            if (check_failed_now)                                                                  \
                failed++;                                                                          \
            else                                                                                   \
                passed++;                                                                          \
        }                                                                                          \
        printf("%d passed, %d failed\n", passed, failed);                                          \
        return failed ? 1 : 0;                                                                     \
    }

#endif
