/* Uses the installed tensortier.h and libtensortier.so: a DRAM-only context,
 * one block, and the version the library reports. */
#include <stdio.h>
#include <string.h>

#include <tensortier/tensortier.h>

int main(void) {
  tt_config* cfg = NULL;
  tt_context* ctx = NULL;
  void* p = NULL;
  int major = -1, minor = -1, patch = -1;
  if (tt_version(&major, &minor, &patch) != TT_OK || major != TT_VERSION_MAJOR ||
      minor != TT_VERSION_MINOR)
    return 1;
  if (tt_config_new(&cfg) != TT_OK || tt_config_set_dram_limit(cfg, 8u << 20) != TT_OK ||
      tt_config_set_pmem(cfg, "none") != TT_OK || tt_context_new(cfg, &ctx) != TT_OK) {
    fprintf(stderr, "%s\n", tt_errormsg());
    return 1;
  }
  tt_config_delete(&cfg);
  if (tt_allocate(ctx, 1u << 20, 0, TT_HINT_AUTO, &p) != TT_OK) {
    fprintf(stderr, "%s\n", tt_errormsg());
    return 1;
  }
  memset(p, 7, 1u << 20);
  if (tt_deallocate(ctx, p) != TT_OK || tt_context_delete(&ctx) != TT_OK) return 1;
  printf("c consumer ok (libtensortier %d.%d.%d)\n", major, minor, patch);
  return 0;
}
