/* The tensortier C ABI (libtensortier.so), shaped like UMF and libpmem2:
 * opaque handles with create/delete pairs, a tt_status from every call,
 * results through out-parameters (left untouched on error), and a
 * thread-local message for the last error (tt_errormsg). Only tt_* symbols
 * are exported, versioned TENSORTIER_0.1. docs/api.md has examples.
 *
 *   tt_config* cfg; tt_context* ctx; void* p;
 *   tt_config_new(&cfg);
 *   tt_config_set_dram_limit(cfg, 32u << 20);
 *   if (tt_context_new(cfg, &ctx) != TT_OK) fprintf(stderr, "%s\n", tt_errormsg());
 *   tt_config_delete(&cfg);
 *   tt_allocate(ctx, 64u << 20, 0, TT_HINT_AUTO, &p);
 *   tt_deallocate(ctx, p);
 *   tt_context_delete(&ctx);
 *
 * Every function except tt_errormsg and tt_status_name first clears the
 * calling thread's error message to "". A NULL handle or out-pointer is
 * TT_ERR_INVALID_ARGUMENT. A context is thread-safe; a config is not.
 */
#ifndef TENSORTIER_TENSORTIER_H
#define TENSORTIER_TENSORTIER_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define TT_API __attribute__((visibility("default")))
#else
#define TT_API
#endif

#define TT_VERSION_MAJOR 0
#define TT_VERSION_MINOR 1
#define TT_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* Mirrors tensortier::Errc (same values). */
typedef enum tt_status {
  TT_OK = 0,
  TT_ERR_INVALID_ARGUMENT = 1, /* bad input: NULL handle, size, alignment, foreign pointer, ... */
  TT_ERR_NOT_SUPPORTED = 2,    /* feature or library absent on this build or machine */
  TT_ERR_NO_SPACE = 3,         /* no tier has room (nothing is lost) */
  TT_ERR_IO = 4,               /* open/map/write failed for another reason */
  TT_ERR_NOT_FOUND = 5,        /* a path, device or block does not exist */
  TT_ERR_INTERNAL = 6          /* a broken invariant inside tensortier */
} tt_status;

/* Where a new block should go (tensortier::Hint). */
typedef enum tt_hint {
  TT_HINT_AUTO = 0, /* DRAM if it fits (after evicting by policy), else PMem */
  TT_HINT_HOT = 1,  /* DRAM; evict others to make room */
  TT_HINT_COLD = 2  /* PMem first, DRAM if PMem is full */
} tt_hint;

/* What the caller knows about a block's future use (tensortier::Advice). */
typedef enum tt_advice {
  TT_ADVICE_HOT = 0,       /* used now: promote synchronously */
  TT_ADVICE_COLD = 1,      /* not used for a while: demote in the background */
  TT_ADVICE_WILL_NEED = 2, /* used soon: promote in the background */
  TT_ADVICE_WONT_NEED = 3  /* same as TT_ADVICE_COLD */
} tt_advice;

/* Which DRAM blocks are demoted when DRAM must make room (tensortier::Policy). */
typedef enum tt_policy {
  TT_POLICY_LRU = 0,      /* least recently allocated / pinned / advised first */
  TT_POLICY_NEXT_USE = 1, /* farthest next use (tt_set_next_use) first */
  TT_POLICY_STATIC = 2    /* placement at allocation only, never migrate */
} tt_policy;

typedef struct tt_config tt_config;   /* options for a context; not thread-safe */
typedef struct tt_context tt_context; /* an allocator: tiers, blocks, mover thread */

/* ---- errors and version -------------------------------------------------------------- */

/* The calling thread's message for the last failed call; "" after a successful call. Never NULL. */
TT_API const char* tt_errormsg(void);
/* "ok", "invalid_argument", ... for a status; "unknown" otherwise. Does not clear tt_errormsg. */
TT_API const char* tt_status_name(tt_status status);
/* The library's version (may differ from TT_VERSION_* this program was compiled with). */
TT_API tt_status tt_version(int* major, int* minor, int* patch);

/* ---- configuration ------------------------------------------------------------------- */

/* A config with the defaults: machine DRAM budget, emulated PMem in $TMPDIR, LRU, no throttle. */
TT_API tt_status tt_config_new(tt_config** out);
/* A config from TENSORTIER_* (incl. _POLICY and _OPTANE); a bad value names the variable. */
TT_API tt_status tt_config_from_env(tt_config** out);
/* Frees *config (NULL is fine) and sets *config to NULL. */
TT_API tt_status tt_config_delete(tt_config** config);
/* DRAM budget in bytes, split over the DRAM NUMA nodes; 0 is TT_ERR_INVALID_ARGUMENT. */
TT_API tt_status tt_config_set_dram_limit(tt_config* config, uint64_t bytes);
/* PMem tier, TENSORTIER_PMEM syntax: "file:/dir[,size=N]", "devdax:/dev/daxX.Y", "kmem", "none". */
TT_API tt_status tt_config_set_pmem(tt_config* config, const char* spec);
/* The eviction policy. */
TT_API tt_status tt_config_set_policy(tt_config* config, tt_policy policy);
/* Optane emulation (enabled != 0): migrations slowed to GB/s per DIMM x dimms (>= 1). */
TT_API tt_status tt_config_set_optane_throttle(tt_config* config, int enabled,
                                               double read_gbps_per_dimm,
                                               double write_gbps_per_dimm, unsigned dimms);
/* Keep trace events for tt_write_trace (enabled != 0). */
TT_API tt_status tt_config_set_record_trace(tt_config* config, int enabled);

/* ---- context ------------------------------------------------------------------------- */

/* Opens the tiers of config (which the caller may delete afterwards) and starts the mover. */
TT_API tt_status tt_context_new(const tt_config* config, tt_context** out);
/* Finishes queued moves, frees every block and the tiers (NULL is fine); sets *context to NULL. */
TT_API tt_status tt_context_delete(tt_context** context);

/* ---- blocks -------------------------------------------------------------------------- */

/* A block of size > 0 bytes aligned to alignment (power of two up to 2 MiB; 0 means 64). */
TT_API tt_status tt_allocate(tt_context* context, size_t size, size_t alignment, tt_hint hint,
                             void** out);
/* Frees a block; NULL is a no-op; a foreign pointer or a double free is TT_ERR_INVALID_ARGUMENT. */
TT_API tt_status tt_deallocate(tt_context* context, void* ptr);
/* Pins a block (pins nest) so it never moves; a PMem block is promoted first if DRAM has room. */
TT_API tt_status tt_pin(tt_context* context, void* ptr);
/* Undoes one tt_pin; a block that is not pinned is TT_ERR_INVALID_ARGUMENT. */
TT_API tt_status tt_unpin(tt_context* context, void* ptr);
/* Tells the policy about a block's future use; cold/will_need moves run in the background. */
TT_API tt_status tt_advise(tt_context* context, void* ptr, tt_advice advice);
/* Moves a block to PMem now (no-op when it is there); a pinned block is TT_ERR_INVALID_ARGUMENT. */
TT_API tt_status tt_demote(tt_context* context, void* ptr);
/* Moves a block to DRAM now (no-op when it is there); TT_ERR_NO_SPACE if DRAM cannot make room. */
TT_API tt_status tt_promote(tt_context* context, void* ptr);
/* Waits until every queued background move has finished. */
TT_API tt_status tt_wait_for_moves(tt_context* context);
/* The step at which the block is used next (TT_POLICY_NEXT_USE evicts the farthest first). */
TT_API tt_status tt_set_next_use(tt_context* context, void* ptr, uint64_t step);
/* The current step of the caller's schedule (next uses before it count as none). */
TT_API tt_status tt_set_current_step(tt_context* context, uint64_t step);

/* ---- tiers and statistics ------------------------------------------------------------ */

/* Tier index of the block containing ptr; TT_ERR_NOT_FOUND (and *tier = -1) if there is none. */
TT_API tt_status tt_tier_of(tt_context* context, const void* ptr, int* tier);
/* Number of tiers (DRAM/HBM nodes first, PMem last). */
TT_API tt_status tt_tier_count(tt_context* context, int* count);
/* The tier's name ("dram0", "pmem_file", ...), valid until the context is deleted. */
TT_API tt_status tt_tier_name(tt_context* context, int index, const char** name);
/* Statistics JSON, snprintf-like: writes what fits of it NUL-terminated (buf may be NULL when
 * buf_len is 0) and sets *needed to its length + 1; truncated when *needed > buf_len. */
TT_API tt_status tt_stats_json(tt_context* context, char* buf, size_t buf_len, size_t* needed);
/* Writes the Chrome/Perfetto trace JSON to path; needs tt_config_set_record_trace. */
TT_API tt_status tt_write_trace(tt_context* context, const char* path);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TENSORTIER_TENSORTIER_H */
