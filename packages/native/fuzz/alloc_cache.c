// The large-block cache of the fuzz harnesses: see alloc_cache.h. Built without the header's
// macros, so it calls the real allocator.
#include <sanitizer/allocator_interface.h>
#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MIN_BLOCK = 64 * 1024, SLOTS = 16 };

static struct {
  void *p;
  size_t size;
} cache[SLOTS];

void *pn_fuzz_calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) return NULL;
  size_t total = n * size;
  if (total >= MIN_BLOCK) {
    for (int i = 0; i < SLOTS; i++) {
      if (cache[i].p != NULL && cache[i].size == total) {
        void *p = cache[i].p;
        cache[i].p = NULL;
        ASAN_UNPOISON_MEMORY_REGION(p, total);
        return memset(p, 0, total);
      }
    }
  }
  return calloc(n, size);
}

void pn_fuzz_free(void *p) {
  if (p == NULL) return;
  size_t size = __sanitizer_get_allocated_size(p);
  if (size >= MIN_BLOCK) {
    for (int i = 0; i < SLOTS; i++) {
      if (cache[i].p == NULL) {
        cache[i].p = p;
        cache[i].size = size;
        ASAN_POISON_MEMORY_REGION(p, size);
        return;
      }
    }
  }
  free(p);
}
