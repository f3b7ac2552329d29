// A receiver for the harnesses that drive receiver.c without N-API (fuzz/fuzz_receiver.c,
// test/replay-pcm.c): set up as receiver_new does, with no socket and no thread, a fixed SRTP key
// and salt, the peer 127.0.0.1:5004, payload type 111 and the default jitter buffer. Include it
// after "../src/receiver.c". The caller adds the SSRCs werift would have told it (learnSsrc).
#ifndef PN_RECEIVER_FIXTURE_H
#define PN_RECEIVER_FIXTURE_H

static const uint8_t KEY[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t SALT[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

static PnReceiver *fixture_receiver(void) {
  PnReceiver *r = calloc(1, sizeof *r);
  r->magic = RX_MAGIC;
  r->fd = -1;
  r->wake_fd = -1;
  r->period = 480;
  r->volume_q16 = 65536;  // as receiver_new: what is pulled plays at the decoded level
  struct sockaddr_in *peer = (struct sockaddr_in *)&r->peer;
  peer->sin_family = AF_INET;
  peer->sin_port = htons(5004);
  peer->sin_addr.s_addr = htonl(0x7f000001);
  r->pt_ok[111] = true;
  r->gcm = pn_gcm_new_decrypt(KEY, sizeof KEY);
  memcpy(r->salt, SALT, sizeof SALT);
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->fwd_mu, NULL);
  PnJbOptions o;
  pn_jb_default_options(&o);
  const char *why;
  r->jb = pn_jb_new(&o, &why);
  r->tick = pn_jb_tick_samples(r->jb);
  return r;
}

// An SSRC werift has already seen, its last sequence number and rollover counter.
static void fixture_ssrc(PnReceiver *r, int slot, uint32_t ssrc, uint32_t roc, uint16_t last_seq) {
  r->ssrcs[slot] = (SsrcState){.ssrc = ssrc, .roc = roc, .last_seq = last_seq, .used = true};
  for (int i = 0; i < REPLAY_WINDOW; i++) r->ssrcs[slot].seen[i] = NO_INDEX;
}

// Frees what receiver_free would, the datagrams handed back for werift included.
static void fixture_free(PnReceiver *r) {
  while (r->fwd_head) {
    Fwd *f = r->fwd_head;
    r->fwd_head = f->next;
    free(f);
  }
  pn_gcm_free(r->gcm);
  pn_jb_free(r->jb);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->fwd_mu);
  free(r->pcm_ring);
  free(r->probes);
  free(r);
}

#endif
