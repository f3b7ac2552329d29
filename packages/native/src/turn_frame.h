// TURN ChannelData framing (RFC 8656 §12.4), in one place: the built-in relay (relay.c) decides
// a client's ChannelData with it, and a call's relayed edge (sender.c, receiver.c) wraps its SRTP
// packets in it and unwraps the relay's. Header-only so that the fuzz harnesses and the C tests
// build it without the addon.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  |         Channel Number        |            Length             |
//  |                      Application Data (Length bytes)         ...
//
// Over UDP the datagram may carry up to 3 bytes of padding after the data (§12.5: a receiver
// ignores them); longer trailers are ignored too, as werift and the TypeScript relay do.
#ifndef PARLOIR_TURN_FRAME_H
#define PARLOIR_TURN_FRAME_H

#include <stddef.h>
#include <stdint.h>

// Bytes of a ChannelData header.
#define PN_CHANNEL_HEADER 4
// RFC 8656 §12: channel numbers 0x4000 through 0x7FFF (the two top bits 01 tell ChannelData
// from STUN, whose first two bits are 00).
#define PN_CHANNEL_MIN 0x4000
#define PN_CHANNEL_MAX 0x7fff

typedef enum {
  PN_CHANNEL_OK = 0,
  PN_CHANNEL_NOT_CHANNEL_DATA,  // the first two bits are not 01: STUN, or not TURN at all
  PN_CHANNEL_TRUNCATED,         // shorter than the header, or than the length it gives
} PnChannelResult;

// Whether the first byte says ChannelData (RFC 7983 §7: 64..79 in a demultiplexed stream; TURN
// itself takes the whole 0x40..0x7f range).
static inline int pn_is_channel_data(const uint8_t *p, size_t len) {
  return len >= 1 && (p[0] & 0xc0) == 0x40;
}

// Parses a ChannelData message: its channel number and where its data lies in `p`. Never reads
// past `len`; any input gives one of the results.
static inline PnChannelResult pn_channel_data_parse(const uint8_t *p, size_t len,
                                                    uint16_t *channel, const uint8_t **data,
                                                    uint16_t *data_len) {
  if (!pn_is_channel_data(p, len)) return PN_CHANNEL_NOT_CHANNEL_DATA;
  if (len < PN_CHANNEL_HEADER) return PN_CHANNEL_TRUNCATED;
  uint16_t dlen = (uint16_t)(p[2] << 8 | p[3]);
  if ((size_t)PN_CHANNEL_HEADER + dlen > len) return PN_CHANNEL_TRUNCATED;
  *channel = (uint16_t)(p[0] << 8 | p[1]);
  *data = p + PN_CHANNEL_HEADER;
  *data_len = dlen;
  return PN_CHANNEL_OK;
}

// Writes the header for `data_len` bytes of data on `channel` at `h` (PN_CHANNEL_HEADER bytes).
static inline void pn_channel_data_header(uint8_t *h, uint16_t channel, uint16_t data_len) {
  h[0] = (uint8_t)(channel >> 8);
  h[1] = (uint8_t)channel;
  h[2] = (uint8_t)(data_len >> 8);
  h[3] = (uint8_t)data_len;
}

#endif
