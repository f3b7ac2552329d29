// libFuzzer harness for the Opus TOC parser of the C jitter buffer (src/jitter.c opus_duration,
// RFC 6716 §3.1-3.2): any payload gives -1 or a duration of 2.5..120 ms in 48 kHz samples, and
// libopus's own parser never contradicts an accepted packet's frame count. Also the sender's
// LBRR flag reader (src/opus_lbrr.h): any bytes, no read past the end, and never a flag in a
// CELT-only packet.
#include "../src/jitter.c"
#include "../src/opus_lbrr.h"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A copy of exactly `size` bytes, so ASan catches a read one past the end.
  uint8_t *copy = malloc(size > 0 ? size : 1);
  if (size > 0) memcpy(copy, data, size);
  bool lbrr = pn_opus_has_lbrr(copy, size);
  free(copy);
  if (size > 0 && data[0] >> 3 >= 16) assert(!lbrr);
  double d = opus_duration(data, size);
  if (d < 0) {
    assert(d == -1);
    return 0;
  }
  assert(d >= 120 && d <= 5760 && d == floor(d));
  int frames = opus_packet_get_nb_frames(data, (opus_int32)size);
  int per = opus_packet_get_samples_per_frame(data, 48000);
  // Where libopus can count the frames too, both agree on the duration (code 3 packets may be
  // malformed past the count byte, which libopus rejects and the TOC parser need not).
  if (frames > 0 && (data[0] & 3) != 3) assert(d == (double)frames * per);
  return 0;
}
