/* Runs to completion under any configuration: allocates large and small
   blocks, checks them, prints `lines` numbered lines to stdout (fully
   buffered when stdout is a pipe or a file, never flushed by hand) and
   "done" last. The bad-configuration test checks that all of it arrives and
   that stderr holds exactly the one warning line. */
#include "preload_test_util.h"

#define MiB ((size_t)1 << 20)

int main(int argc, char** argv) {
  require_preload();
  const int lines = argc > 1 ? atoi(argv[1]) : 5000;
  size_t bad = 0;
  unsigned char* blocks[8];
  for (int i = 0; i < 8; ++i) {
    blocks[i] = malloc(3 * MiB + (size_t)i);
    if (blocks[i] == NULL) return 3;
    fill_pattern(blocks[i], 3 * MiB + (size_t)i, (uint64_t)i);
  }
  unsigned char* zero = calloc(2, MiB);
  if (zero == NULL) return 3;
  bad += count_nonzero(zero, 2 * MiB);
  for (int i = 0; i < 8; ++i) bad += count_mismatches(blocks[i], 3 * MiB + (size_t)i, (uint64_t)i);
  for (int i = 0; i < lines; ++i) printf("line %d of %d\n", i, lines);
  for (int i = 0; i < 8; ++i) free(blocks[i]);
  free(zero);
  printf("done: %zu bad bytes\n", bad);
  return bad == 0 ? 0 : 1; /* no fflush: exit() must flush */
}
