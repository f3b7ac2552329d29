// Force-included (clang -include) into the jitter and receiver harnesses' C files by
// scripts/fuzz.ts: calloc and free of large blocks (≥ 64 KiB: the jitter buffer's packet ring,
// the receiver's state) go through a small cache (alloc_cache.c), so one input does not pay for
// fresh pages. ASan serves such blocks with mmap and unmaps them on free; their page faults and
// shadow set-up were most of each input's time (perf: 40 % in the jitter harness, 70 % in the
// receiver's). A cached block keeps its real allocation's redzones, so overflows are still
// caught, and it is poisoned while cached, so a use after free is still reported (as
// use-after-poison). Blocks in use are not held by the cache, so LeakSanitizer still sees leaks.
#ifndef PN_FUZZ_ALLOC_CACHE_H
#define PN_FUZZ_ALLOC_CACHE_H

#include <stddef.h>
#include <stdlib.h>

void *pn_fuzz_calloc(size_t n, size_t size);
void pn_fuzz_free(void *p);

#define calloc(n, size) pn_fuzz_calloc((n), (size))
#define free(p) pn_fuzz_free(p)

#endif
