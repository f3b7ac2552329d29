// libFuzzer harness for the C receive path (src/receiver.c over src/srtp.c and src/jitter.c):
// datagrams as the receiver's I/O thread reads them from the ICE socket — the RTP header and
// extension parse, the SSRC table, the ROC guess (RFC 3711 App. A), the replay list (§3.3.2),
// AES-GCM open (RFC 7714), padding, the jitter buffer — and device pulls between them.
// receiver.c is included whole for its static functions; its N-API entry points are not called
// (fuzz/napi_stubs.c). No socket: the harness calls handle_datagram() as read_socket() would.
//
// Input: a sequence of records  [op(1) len_hi(1) len_lo(1) bytes(len)]:
//   op & 3 == 0  the bytes as they come off the wire (forged or garbage: auth fails or forwards);
//   op & 3 == 1  the bytes are a plaintext RTP packet: the harness seals it with the session key
//                and the ROC in op's high bits, so the fuzzer reaches everything after the tag;
//   op & 3 == 2  the device pulls (op >> 2) * 5 ms of audio;
//   op & 3 == 3  the same datagram again (a replay of the last one sent).
#include "../src/receiver.c"

#include <assert.h>

#include "receiver_fixture.h"

static PnReceiver *new_receiver(void) {
  PnReceiver *r = fixture_receiver();
  // Two SSRCs werift has already seen, one near a sequence-number wrap.
  fixture_ssrc(r, 0, 0x1234, 0, 100);
  fixture_ssrc(r, 1, 0xabcd, 7, 65500);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static EVP_CIPHER_CTX *seal;
  if (seal == NULL) seal = pn_gcm_new_encrypt(KEY, sizeof KEY);
  PnReceiver *r = new_receiver();
  struct sockaddr_storage from = r->peer;
  uint8_t wire[MAX_DGRAM + 64];
  size_t wire_len = 0;
  int16_t out[4800];
  int64_t t = 1000000000;
  size_t off = 0;
  while (off + 3 <= size) {
    uint8_t op = data[off];
    size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
    off += 3;
    if (len > size - off) len = size - off;
    const uint8_t *p = data + off;
    off += len;
    t += 20000000;
    switch (op & 3) {
      case 0:
        if (len > MAX_DGRAM) len = MAX_DGRAM;
        memcpy(wire, p, len);
        wire_len = len;
        handle_datagram(r, wire, wire_len, &from, t);
        break;
      case 1: {
        // Plaintext RTP: header (12 bytes + CSRCs + extension, as the packet says) + payload.
        if (len < 12 || len + PN_GCM_TAG_LEN > MAX_DGRAM) break;
        size_t hl = 12 + 4 * (size_t)(p[0] & 0x0f);
        if ((p[0] & 0x10) && hl + 4 <= len) hl += 4 + 4 * (size_t)be16(p + hl + 2);
        if (hl > len) break;
        if (!pn_gcm_seal(seal, SALT, p, hl, p + hl, len - hl, op >> 2, wire)) break;
        wire_len = len + PN_GCM_TAG_LEN;
        handle_datagram(r, wire, wire_len, &from, t);
        break;
      }
      case 2: {
        size_t n = (size_t)(op >> 2) * 240;
        if (n > sizeof out / sizeof *out) n = sizeof out / sizeof *out;
        out[n > 0 ? n - 1 : 0] = 0x5a5a;
        pn_receiver_pull(r, out, n, t);
        break;
      }
      default:
        if (wire_len > 0) handle_datagram(r, wire, wire_len, &from, t);
    }
  }
  // Datagrams handed back for werift are whole datagrams; then the receiver is freed.
  for (Fwd *f = r->fwd_head; f != NULL; f = f->next) assert(f->len <= MAX_DGRAM);
  fixture_free(r);
  return 0;
}
