/* "Did you mean": typical misspellings of manifest columns find their column (a letter
 * dropped, two swapped, another case), unrelated words find none, ties go to the earlier
 * candidate, and on random words the pick has the smallest distance of a plain full-matrix
 * optimal-string-alignment distance (computed here, case-folded) within max(2, len / 3). */
#include "testutil.h"

#include "adaptor/suggest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int osa(const char *a, const char *b)
{
    int n = (int)strlen(a), m = (int)strlen(b), d[24][24];
    for (int i = 0; i <= n; i++)
        for (int j = 0; j <= m; j++) {
            if (!i || !j) {
                d[i][j] = i + j;
                continue;
            }
            int x = tolower((unsigned char)a[i - 1]), y = tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j - 1] + (x != y);
            v = d[i - 1][j] + 1 < v ? d[i - 1][j] + 1 : v;
            v = d[i][j - 1] + 1 < v ? d[i][j - 1] + 1 : v;
            if (i > 1 && j > 1 && x == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == y && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

START_TEST(test_columns)
{
    const char *cols[] = {"Path", "subject_id", "ViewPosition", "split", "findings", "impression",
                          "Pleural Effusion"};
    int n = 7;
    ck_assert_str_eq(ad_suggest("Pth", cols, n), "Path");
    ck_assert_str_eq(ad_suggest("Ptah", cols, n), "Path");
    ck_assert_str_eq(ad_suggest("viewposition", cols, n), "ViewPosition");
    ck_assert_str_eq(ad_suggest("ViewPositon", cols, n), "ViewPosition");
    ck_assert_str_eq(ad_suggest("impresion", cols, n), "impression");
    ck_assert_str_eq(ad_suggest("Pleural_Effusion", cols, n), "Pleural Effusion");
    ck_assert_ptr_null(ad_suggest("label", cols, n));
    ck_assert_ptr_null(ad_suggest("Cardiomegaly", cols, n));
    ck_assert_ptr_null(ad_suggest("Path", cols, 0));
    const char *tie[] = {"ac", "ad"};
    ck_assert_str_eq(ad_suggest("ab", tie, 2), "ac");
}
END_TEST

START_TEST(test_random_against_full_matrix)
{
    srand(7);
    char words[8][12], w[12];
    const char *cands[8];
    for (int trial = 0; trial < 2000; trial++) {
        for (int k = 0; k < 8; k++) {
            int len = 1 + rand() % 10;
            for (int i = 0; i < len; i++)
                words[k][i] = "abcdAB"[rand() % 6];
            words[k][len] = '\0';
            cands[k] = words[k];
        }
        int len = 1 + rand() % 10;
        for (int i = 0; i < len; i++)
            w[i] = "abcdAB"[rand() % 6];
        w[len] = '\0';
        int limit = len / 3 > 2 ? len / 3 : 2, best = 1 << 30, first = -1;
        for (int k = 0; k < 8; k++) {
            int d = osa(w, cands[k]);
            if (d < best) {
                best = d;
                first = k;
            }
        }
        const char *pick = ad_suggest(w, cands, 8);
        if (best > limit)
            ck_assert_ptr_null(pick);
        else
            ck_assert_ptr_eq(pick, cands[first]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("suggest");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_columns);
    tcase_add_test(tc, test_random_against_full_matrix);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
