// Adaptive jitter buffer for one Opus stream (48 kHz mono), in plain C: a faithful port of
// @parloir/media's JitterBuffer (packages/media/src/jitter-buffer.ts with delay-estimator.ts,
// time-stretch.ts, the Opus TOC parser and the RTP Unwrapper). Same decisions, same libopus calls
// in the same order, same PCM; packages/native/test/jitter-cross.test.ts checks it tick by tick.
//
// Not thread-safe: the caller serialises insert/pull/stats under its own lock. All memory is
// allocated by pn_jb_new (ring, payload slots, PCM queue, delay history, decoder); insert and
// pull never allocate.
#ifndef PARLOIR_JITTER_H
#define PARLOIR_JITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PnJb PnJb;

typedef struct PnJbOptions {
  int tick_ms;                /* playout tick, ms: (0, 60], usually 5, 10 or 20 (TS tickMs) */
  double min_delay_ms;        /* TS minDelayMs */
  double max_delay_ms;        /* TS maxDelayMs */
  int capacity;               /* ring size, packets (TS capacity; at least 16) */
  double quantile;            /* TS quantile */
  double in_order_quantile;   /* TS inOrderQuantile */
  double margin_ms;           /* TS marginMs */
  double history_ms;          /* TS historyMs */
  bool fec;                   /* TS fec */
  double initial_delay_ms;    /* TS initialDelayMs */
  double accelerate_at_ticks; /* TS accelerateAtTicks */
  double target_decay_ms_per_s; /* TS targetDecayMsPerS: 0 = no hold; finite, >= 0 */
} PnJbOptions;

/* InsertOutcome */
enum { PN_JB_INSERTED, PN_JB_DUPLICATE, PN_JB_LATE, PN_JB_RESET, PN_JB_MALFORMED };
/* PlayoutDecision */
enum {
  PN_JB_NORMAL,
  PN_JB_FEC,
  PN_JB_PLC,
  PN_JB_ACCELERATE,
  PN_JB_EXPAND,
  PN_JB_RESET_D,
  PN_JB_BUFFERING
};

/* Largest payload a slot holds, bytes (an RTP payload that fits one UDP datagram on Ethernet);
 * a longer one is counted malformed. */
#define PN_JB_MAX_PAYLOAD 1500
/* Largest capacity pn_jb_new accepts, packets. */
#define PN_JB_MAX_CAPACITY 65536

/* Every field of the TS JitterBufferStats, same meaning and units. */
typedef struct PnJbStats {
  uint64_t packets_received;
  uint64_t packets_played;
  uint64_t duplicates;
  uint64_t late_packets;
  uint64_t lost_packets;
  uint64_t fec_recovered;
  uint64_t plc_packets;
  double concealed_ms;
  double played_ms;
  uint64_t accelerate_count;
  uint64_t expand_count;
  uint64_t resets;
  uint64_t malformed_packets;
  double current_delay_ms;
  double target_delay_ms;
  uint64_t buffered_packets;
  double min_delay_ms;
  double max_delay_ms;
} PnJbStats;

/* The TS defaults, for a 48 kHz Opus stream. */
void pn_jb_default_options(PnJbOptions *o);
/* NULL and a static reason in *why on bad options (the TS checks, plus: every double finite,
 * capacity ≤ PN_JB_MAX_CAPACITY) or no memory. */
PnJb *pn_jb_new(const PnJbOptions *o, const char **why);
void pn_jb_free(PnJb *jb);
/* One received RTP packet; arrival_ms on the receiver clock. Returns an InsertOutcome. Never
 * fails on any payload; a non-finite arrival_ms counts the packet malformed. */
int pn_jb_insert(PnJb *jb, uint16_t seq, uint32_t ts, uint32_t ssrc, bool marker,
                 const uint8_t *payload, size_t len, double arrival_ms);
/* One tick for playout at now_ms: writes exactly pn_jb_tick_samples() samples to out, returns a
 * PlayoutDecision. A non-finite now_ms plays silence (PN_JB_BUFFERING) and changes nothing. */
int pn_jb_pull(PnJb *jb, double now_ms, int16_t *out);
/* Samples per tick (48 kHz mono). */
int pn_jb_tick_samples(const PnJb *jb);
/* TS setDelayBounds: 0, or -1 (bounds unchanged) if !(min ≥ 0 && max ≥ min && max finite). */
int pn_jb_set_bounds(PnJb *jb, double min_ms, double max_ms);
void pn_jb_stats(const PnJb *jb, PnJbStats *out);

#endif
