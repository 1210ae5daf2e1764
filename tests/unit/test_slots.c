/* slots: the worker's memory of fast endpoints and its per-subscriber queues of held jobs. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slots.h"

static queue_job job(const char *id, const char *sub)
{
    queue_job j = {0};
    j.job_id = strdup(id);
    j.sub_id = strdup(sub);
    return j;
}

static void drop(queue_job *j)
{
    free(j->job_id);
    free(j->sub_id);
}

TEST(test_a_fast_answer_proves_an_endpoint_for_a_while)
{
    slots s = {0};
    CHECK_INT(slots_proven(&s, "sub_a", 1000, 0), 0);
    CHECK_INT(slots_proven(&s, "sub_a", 1000, 1), 1);
    CHECK_INT(slots_proven(&s, "sub_a", 1000 + SLOTS_PROVEN_FOR_MS - 1, 0), 1);
    CHECK_INT(slots_proven(&s, "sub_a", 1000 + SLOTS_PROVEN_FOR_MS, 0), 0);
    CHECK_INT(slots_proven(&s, "sub_b", 1000, 0), 0);
}

TEST(test_a_full_table_forgets_the_stalest_endpoint)
{
    slots s = {0};
    char id[32];
    for (int i = 0; i < SLOTS_PROVEN_MAX; i++) {
        snprintf(id, sizeof id, "sub_%d", i);
        slots_proven(&s, id, 100 + i, 1);
    }
    CHECK_INT(slots_proven(&s, "sub_new", 500, 1), 1);
    CHECK_INT(slots_proven(&s, "sub_0", 500, 0), 0);   /* the stalest went */
    CHECK_INT(slots_proven(&s, "sub_1", 500, 0), 1);
    CHECK_INT(s.nproven, SLOTS_PROVEN_MAX);
}

TEST(test_held_jobs_come_back_oldest_first_per_subscriber)
{
    slots s = {0};
    const char *order[][2] = {{"j1", "a"}, {"j2", "b"}, {"j3", "a"}, {"j4", "a"}};
    for (int i = 0; i < 4; i++) {
        queue_job j = job(order[i][0], order[i][1]);
        slots_hold(&s, &j);
        CHECK(j.job_id == NULL);   /* taken */
    }
    CHECK_INT(s.nheld, 4);
    slots_queue *a = slots_find(&s, "a");
    CHECK(a != NULL);
    CHECK_INT(a->n, 3);
    const char *want[] = {"j1", "j3", "j4"};
    for (int i = 0; i < 3; i++) {
        queue_job out;
        slots_unhold(&s, a, &out);
        CHECK_STR(out.job_id, want[i]);
        drop(&out);
    }
    CHECK(slots_find(&s, "a") == NULL);   /* emptied: gone */
    CHECK_INT(s.nheld, 1);
    queue_job out;
    slots_unhold(&s, slots_find(&s, "b"), &out);
    CHECK_STR(out.job_id, "j2");
    drop(&out);
    CHECK(s.holds == NULL);
    CHECK_INT(s.nheld, 0);
}

CHECK_MAIN
