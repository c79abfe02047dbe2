/* "Did you mean": the nearest of a set of names to a misspelt one, for error messages
 * (manifest columns today; any list of names). */
#ifndef ADAPTOR_SUGGEST_H
#define ADAPTOR_SUGGEST_H

/* The candidate closest to `word` by case-insensitive edit distance (insertions, deletions,
 * substitutions and swaps of neighbours), or NULL when none is within max(2, len / 3) edits.
 * Ties go to the earlier candidate. */
const char *ad_suggest(const char *word, const char *const *cands, int n);

#endif
