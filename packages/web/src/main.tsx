/**
 * Entry point. Browser mode by default; native mode when the page is served by a native client
 * (`parloir connect --ui`), which opens it with `#native=<control-API token>`.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { Backend } from './app/backend.ts';
import { initialState, Store } from './app/store.ts';
import { BrowserBackend } from './browser/browser-backend.ts';
import { NativeBackend } from './native/native-backend.ts';
import { AppContext } from './ui/context.ts';
import { App } from './ui/App.tsx';
import './styles.css';

const nativeToken = new URLSearchParams(location.hash.slice(1)).get('native');
const store = new Store(
  initialState(navigator.languages, nativeToken === null ? 'browser' : 'native'),
);
const saved = localStorage.getItem('parloir.theme');
store.update({
  theme:
    saved === 'dark' || saved === 'light'
      ? saved
      : matchMedia('(prefers-color-scheme: dark)').matches
        ? 'dark'
        : 'light',
});
store.subscribe(() => localStorage.setItem('parloir.theme', store.get().theme));

const backend: Backend =
  nativeToken === null ? new BrowserBackend(store) : new NativeBackend(store, nativeToken);

const root = document.getElementById('root');
if (root !== null) {
  createRoot(root).render(
    <StrictMode>
      <AppContext value={{ store, backend }}>
        <App />
      </AppContext>
    </StrictMode>,
  );
}
