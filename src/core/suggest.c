#include "adaptor/suggest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Optimal string alignment distance over three rolling rows; long names (over 64 bytes)
 * are compared by their first 64, which is plenty to spot a typo. */
static int distance(const char *a, const char *b)
{
    enum { M = 64 };
    int n = (int)strlen(a), m = (int)strlen(b);
    n = n > M ? M : n;
    m = m > M ? M : m;
    int r0[M + 1], r1[M + 1], r2[M + 1], *pp = r0, *p = r1, *c = r2;
    for (int j = 0; j <= m; j++)
        p[j] = j;
    for (int i = 1; i <= n; i++) {
        c[0] = i;
        for (int j = 1; j <= m; j++) {
            int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
            int d = p[j - 1] + (ai != bj);
            if (p[j] + 1 < d)
                d = p[j] + 1;
            if (c[j - 1] + 1 < d)
                d = c[j - 1] + 1;
            if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == bj && pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            c[j] = d;
        }
        int *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[m];
}

const char *ad_suggest(const char *word, const char *const *cands, int n)
{
    int len = (int)strlen(word), limit = len / 3 > 2 ? len / 3 : 2, best = limit + 1;
    const char *pick = NULL;
    for (int i = 0; i < n; i++) {
        int d = distance(word, cands[i]);
        if (d < best) {
            best = d;
            pick = cands[i];
        }
    }
    return pick;
}
