/**
 * The call history, from the server's records (`call.history`) in both modes: each call with
 * its direction, time and length, missed calls marked, and one click to call back. Missed calls
 * not looked at yet show as a badge on the section's title.
 */
import { useState } from 'react';
import type { CallRecord } from '@parloir/protocol';
import { useApp, useAppState, useT } from './context.ts';
import { PhoneIcon } from './People.tsx';

const SEEN_KEY = 'parloir.callsSeenAt';

function lengthOf(c: CallRecord): string | null {
  if (c.answeredAt === null || c.endedAt === null) return null;
  const s = Math.max(0, Math.round((c.endedAt - c.answeredAt) / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** The call history section. */
export function CallHistory() {
  const { backend } = useApp();
  const { calls, call, lang, people } = useAppState();
  const t = useT();
  const [seenAt, setSeenAt] = useState(() => Number(localStorage.getItem(SEEN_KEY) ?? 0));
  const unseenMissed = calls.filter((c) => c.missed && c.startedAt > seenAt).length;
  const online = new Set(people.map((p) => p.id));
  const time = (ms: number) =>
    new Date(ms).toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB', {
      dateStyle: 'short',
      timeStyle: 'short',
    });
  return (
    <details
      className="history"
      aria-label={t('callHistory')}
      onToggle={(e) => {
        if (!e.currentTarget.open) return;
        const now = Date.now();
        localStorage.setItem(SEEN_KEY, String(now));
        setSeenAt(now);
      }}
    >
      <summary>
        {t('callHistory')}
        {unseenMissed > 0 && (
          <span className="badge missed" aria-label={t('missedCalls', { count: unseenMissed })}>
            {unseenMissed}
          </span>
        )}
      </summary>
      {calls.length === 0 ? (
        <p className="empty muted">{t('noCalls')}</p>
      ) : (
        <ul className="call-list">
          {calls.map((c) => {
            const len = lengthOf(c);
            const kind = c.missed
              ? t('missedCall')
              : c.answeredAt === null
                ? t('unansweredCall')
                : c.direction === 'outgoing'
                  ? t('outgoingCall')
                  : t('incomingCallShort');
            return (
              <li
                key={c.callId}
                className={`call-row ${c.missed ? 'missed' : ''}`}
                data-call={c.peer.name}
                data-missed={c.missed}
              >
                <span className="call-dir" aria-hidden="true">
                  {c.direction === 'outgoing' ? '↗' : '↙'}
                </span>
                <span className="call-text">
                  <strong>{c.peer.name}</strong>
                  <span className="muted small">
                    {kind} · {time(c.startedAt)}
                    {len !== null ? ` · ${len}` : ''}
                  </span>
                </span>
                <button
                  type="button"
                  className="icon-btn call-btn"
                  aria-label={t('callBack', { name: c.peer.name })}
                  title={t('callBack', { name: c.peer.name })}
                  disabled={call !== null || !online.has(c.peer.userId)}
                  onClick={() => backend.call(c.peer.userId)}
                >
                  <PhoneIcon />
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </details>
  );
}
