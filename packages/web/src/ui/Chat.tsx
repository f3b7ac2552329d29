/**
 * A 1:1 conversation: history, [Message] field, [Send] (Enter sends). Available during a call.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useApp, useAppState, useT } from './context.ts';
import { Avatar } from './People.tsx';

/** The open conversation, or nothing. */
export function ChatPanel() {
  const { backend, store } = useApp();
  const state = useAppState();
  const t = useT();
  const [text, setText] = useState('');
  const listRef = useRef<HTMLOListElement>(null);
  const peerId = state.openChat;
  const peer = state.people.find((p) => p.id === peerId);
  const conv = peerId === null ? undefined : state.chats[peerId];
  const count = conv?.messages.length ?? 0;

  useEffect(() => {
    const el = listRef.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  }, [count, peerId]);

  if (peerId === null) return null;
  const peerName = peer?.name ?? state.names[peerId] ?? peerId.slice(0, 8);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = text.trim();
    if (body === '') return;
    backend.sendChat(peerId, body);
    setText('');
  };
  const fmt = new Intl.DateTimeFormat(state.lang, { hour: '2-digit', minute: '2-digit' });

  return (
    <section className="card chat" aria-label={t('chatWith', { name: peerName })}>
      <header className="chat-head">
        <button
          type="button"
          className="icon-btn back"
          aria-label={t('back')}
          onClick={() => store.update({ openChat: null })}
        >
          ←
        </button>
        <Avatar name={peerName} size={32} />
        <h2>{peerName}</h2>
      </header>
      <ol className="messages" ref={listRef} aria-live="polite">
        {count === 0 && <li className="empty muted">{t('noMessages')}</li>}
        {conv?.messages.map((m) => (
          <li
            key={m.id}
            className={`msg ${m.from === peerId ? 'theirs' : 'mine'} ${m.pending ? 'pending' : ''}`}
          >
            <span className="bubble">{m.text}</span>
            <time className="small muted">{fmt.format(m.atMs)}</time>
          </li>
        ))}
      </ol>
      <form className="composer" onSubmit={submit}>
        <input
          aria-label={t('message')}
          placeholder={t('messagePlaceholder')}
          value={text}
          maxLength={4000}
          onChange={(e) => setText(e.target.value)}
        />
        <button type="submit" className="primary" disabled={text.trim() === ''}>
          {t('send')}
        </button>
      </form>
    </section>
  );
}
