#include "slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int slots_proven(slots *s, const char *sub_id, int64_t now_ms, int mark)
{
    int oldest = 0;
    for (int i = 0; i < s->nproven; i++) {
        if (strcmp(s->proven[i].sub_id, sub_id) == 0) {
            if (mark)
                s->proven[i].at_ms = now_ms;
            return now_ms - s->proven[i].at_ms < SLOTS_PROVEN_FOR_MS;
        }
        if (s->proven[i].at_ms < s->proven[oldest].at_ms)
            oldest = i;
    }
    if (!mark)
        return 0;
    int i = s->nproven < SLOTS_PROVEN_MAX ? s->nproven++ : oldest;
    snprintf(s->proven[i].sub_id, sizeof s->proven[i].sub_id, "%s", sub_id);
    s->proven[i].at_ms = now_ms;
    return 1;
}

slots_queue *slots_find(slots *s, const char *sub_id)
{
    for (slots_queue *q = s->holds; q; q = q->next)
        if (strcmp(q->sub_id, sub_id) == 0)
            return q;
    return NULL;
}

void slots_hold(slots *s, queue_job *job)
{
    slots_queue *q = slots_find(s, job->sub_id);
    if (!q) {
        q = calloc(1, sizeof *q);
        q->sub_id = strdup(job->sub_id);
        q->tail = &q->head;
        q->next = s->holds;
        s->holds = q;
    }
    slots_held *h = calloc(1, sizeof *h);
    h->job = *job;
    memset(job, 0, sizeof *job);
    *q->tail = h;
    q->tail = &h->next;
    q->n++;
    s->nheld++;
}

void slots_unhold(slots *s, slots_queue *q, queue_job *out)
{
    slots_held *h = q->head;
    q->head = h->next;
    if (!q->head)
        q->tail = &q->head;
    *out = h->job;
    free(h);
    q->n--;
    s->nheld--;
    if (q->head)
        return;
    for (slots_queue **pp = &s->holds; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    free(q->sub_id);
    free(q);
}
