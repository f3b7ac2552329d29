/**
 * The online list: search, status dot, [Call NAME], chat with unread badge, [Block NAME] /
 * [Unblock NAME]. Host-mode requests appear above it.
 */
import { useState } from 'react';
import type { Person } from '../app/types.ts';
import type { MsgKey } from '../i18n.ts';
import { useApp, useAppState, useT } from './context.ts';

function initials(name: string): string {
  const parts = name.trim().split(/\s+/);
  return ((parts[0]?.[0] ?? '') + (parts[1]?.[0] ?? '')).toUpperCase() || '?';
}

/** A hue derived from the name, so each person keeps a colour. */
export function hueOf(name: string): number {
  let h = 0;
  for (const ch of name) h = (h * 31 + (ch.codePointAt(0) ?? 0)) % 360;
  return h;
}

/** Round avatar with initials. */
export function Avatar({ name, size = 36 }: { name: string; size?: number }) {
  return (
    <span
      className="avatar"
      aria-hidden="true"
      style={{ width: size, height: size, background: `hsl(${hueOf(name)} 65% 55%)` }}
    >
      {initials(name)}
    </span>
  );
}

/** The translation key of each presence status. */
export const STATUS_KEYS = {
  available: 'status_available',
  'in-call': 'status_in_call',
  dnd: 'status_dnd',
  away: 'status_away',
} as const satisfies Record<Person['status'], MsgKey>;

function PersonRow({ p }: { p: Person }) {
  const { backend } = useApp();
  const state = useAppState();
  const t = useT();
  const unread = state.chats[p.id]?.unread ?? 0;
  const canCall = state.call === null && !p.blocked;
  const statusKey = p.blocked ? 'blocked' : STATUS_KEYS[p.status];
  return (
    <li className={`person ${state.openChat === p.id ? 'selected' : ''}`} data-person={p.name}>
      <button
        type="button"
        className="person-main"
        onClick={() => backend.openChat(p.id)}
        aria-label={t('chatWith', { name: p.name })}
      >
        <span className="avatar-wrap">
          <Avatar name={p.name} />
          <span className={`dot dot-${p.blocked ? 'blocked' : p.status}`} aria-hidden="true" />
        </span>
        <span className="person-text">
          <span className="person-name">{p.name}</span>
          <span className="person-status">{t(statusKey)}</span>
        </span>
        {unread > 0 && (
          <span className="badge" aria-label={t('unread', { count: unread })}>
            {unread}
          </span>
        )}
      </button>
      <div className="person-actions">
        <button
          type="button"
          className="icon-btn call-btn"
          aria-label={t('call', { name: p.name })}
          title={t('call', { name: p.name })}
          disabled={!canCall}
          onClick={() => backend.call(p.id)}
        >
          <PhoneIcon />
        </button>
        {state.isHost && (
          <button
            type="button"
            className="icon-btn"
            aria-label={t('removeGuest', { name: p.name })}
            title={t('removeGuest', { name: p.name })}
            onClick={() => backend.removeGuest(p.id)}
          >
            <RemoveIcon />
          </button>
        )}
        <button
          type="button"
          className="icon-btn"
          aria-label={t(p.blocked ? 'unblock' : 'block', { name: p.name })}
          title={t(p.blocked ? 'unblock' : 'block', { name: p.name })}
          aria-pressed={p.blocked}
          onClick={() => (p.blocked ? backend.unblock(p.id) : backend.block(p.id))}
        >
          <BlockIcon />
        </button>
      </div>
    </li>
  );
}

/** The native host's panel: where guests connect, and the decisions remembered per key. */
export function HostPanel() {
  const { backend } = useApp();
  const { native } = useAppState();
  const t = useT();
  if (native?.mode !== 'host') return null;
  return (
    <section className="host-panel" aria-label={t('hostPanel')}>
      <p className="small">{t('hostingAt')}</p>
      <ul className="addresses">
        {(native.hostAddresses ?? []).map((a) => (
          <li key={a}>
            <code>{a}</code>
          </li>
        ))}
      </ul>
      {native.decisions.length > 0 && (
        <>
          <h3>{t('rememberedDecisions')}</h3>
          <ul className="decisions">
            {native.decisions.map((d) => (
              <li key={d.fingerprint} data-decision={d.name}>
                <span>
                  <strong>{d.name}</strong>{' '}
                  <span className="muted small">
                    {d.accept ? t('alwaysAccepted') : t('alwaysRefused')}
                  </span>
                </span>
                <button
                  type="button"
                  className="ghost"
                  onClick={() => backend.forgetDecision(d.fingerprint)}
                >
                  {t('forget', { name: d.name })}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** Host-mode requests, each with [Accept] / [Refuse] and, in the native app, [Remember]. */
export function HostRequests() {
  const { backend } = useApp();
  const { hostRequests, mode } = useAppState();
  const t = useT();
  const [remember, setRemember] = useState<Record<string, boolean>>({});
  if (hostRequests.length === 0) return null;
  return (
    <section className="host-requests" aria-label={t('hostRequests')}>
      <h2>{t('hostRequests')}</h2>
      <ul>
        {hostRequests.map((r) => (
          <li key={r.id} className="request" data-request={r.name}>
            <div>
              <strong>{t('hostRequestFrom', { name: r.name })}</strong>
              <div className="muted small">
                {t('keyFingerprint')}: <code>{r.fingerprint}</code>
              </div>
              <div className="muted small">
                {t('address')}: {r.address}
              </div>
            </div>
            <div className="row">
              {mode === 'native' && (
                <label className="check small">
                  <input
                    type="checkbox"
                    checked={remember[r.id] === true}
                    onChange={(e) => setRemember((m) => ({ ...m, [r.id]: e.target.checked }))}
                  />
                  <span>{t('rememberDecision')}</span>
                </label>
              )}
              <button
                type="button"
                className="primary"
                onClick={() => backend.answerRequest(r.id, true, remember[r.id] === true)}
              >
                {t('accept')}
              </button>
              <button
                type="button"
                className="danger"
                onClick={() => backend.answerRequest(r.id, false, remember[r.id] === true)}
              >
                {t('refuse')}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Conversations with people who are not online now: chat stays possible (stored, delivered later). */
function OfflineConversations() {
  const { backend } = useApp();
  const { people, chats, names, openChat } = useAppState();
  const t = useT();
  const online = new Set(people.map((p) => p.id));
  const ids = Object.keys(chats).filter((id) => !online.has(id));
  if (ids.length === 0) return null;
  return (
    <section className="offline" aria-label={t('recentConversations')}>
      <h3>{t('recentConversations')}</h3>
      <ul className="person-list">
        {ids.map((id) => {
          const name = names[id] ?? id.slice(0, 8);
          const unread = chats[id]?.unread ?? 0;
          return (
            <li key={id} className={`person ${openChat === id ? 'selected' : ''}`}>
              <button
                type="button"
                className="person-main"
                onClick={() => backend.openChat(id)}
                aria-label={t('chatWith', { name })}
              >
                <span className="avatar-wrap">
                  <Avatar name={name} />
                  <span className="dot dot-offline" aria-hidden="true" />
                </span>
                <span className="person-text">
                  <span className="person-name">{name}</span>
                  <span className="person-status">{t('status_offline')}</span>
                </span>
                {unread > 0 && (
                  <span className="badge" aria-label={t('unread', { count: unread })}>
                    {unread}
                  </span>
                )}
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** The searchable online list. */
export function People() {
  const { people } = useAppState();
  const t = useT();
  const [query, setQuery] = useState('');
  const q = query.trim().toLowerCase();
  const shown = q === '' ? people : people.filter((p) => p.name.toLowerCase().includes(q));
  return (
    <section className="people" aria-label={t('people')}>
      <HostPanel />
      <HostRequests />
      <div className="people-head">
        <h2>
          {t('people')} <span className="count">{people.length}</span>
        </h2>
        <input
          type="search"
          aria-label={t('search')}
          placeholder={t('search')}
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
      </div>
      {people.length === 0 ? (
        <p className="empty muted">{t('nobodyOnline')}</p>
      ) : shown.length === 0 ? (
        <p className="empty muted">{t('noMatch')}</p>
      ) : (
        <ul className="person-list">
          {shown.map((p) => (
            <PersonRow key={p.id} p={p} />
          ))}
        </ul>
      )}
      <OfflineConversations />
    </section>
  );
}

/** Phone glyph. */
export function PhoneIcon({ down = false }: { down?: boolean }) {
  return (
    <svg
      width="18"
      height="18"
      viewBox="0 0 24 24"
      aria-hidden="true"
      style={down ? { transform: 'rotate(135deg)' } : undefined}
    >
      <path
        fill="currentColor"
        d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.46.57 3.6a1 1 0 0 1-.25 1z"
      />
    </svg>
  );
}

function RemoveIcon() {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">
      <circle cx="10" cy="8" r="4" fill="none" stroke="currentColor" strokeWidth="2" />
      <path d="M3 20a7 7 0 0 1 12-4M16 17h6" stroke="currentColor" strokeWidth="2" fill="none" />
    </svg>
  );
}

function BlockIcon() {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">
      <circle cx="12" cy="12" r="8.5" fill="none" stroke="currentColor" strokeWidth="2" />
      <path d="M6 6l12 12" stroke="currentColor" strokeWidth="2" />
    </svg>
  );
}
