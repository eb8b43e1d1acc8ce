/**
 * The small form that asks for the service's bearer token after a 401 (api.ts calls it
 * once per refusal, shared by the calls refused together). A <dialog>: focus moves into
 * it, Escape cancels, Enter submits.
 */
import { h } from './dom.js';

export function askForToken(message: string): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h('input', { type: 'password', id: 'token-input', autocomplete: 'off', required: true, 'aria-describedby': 'token-why' });
    const cancel = h('button', { type: 'button', value: 'cancel' }, 'cancel');
    const form = h(
      'form',
      { method: 'dialog', id: 'token-form' },
      h('h2', {}, 'This service needs a token'),
      h('p', { id: 'token-why', class: 'small' }, message, h('br'), 'The token is kept for this tab only (sessionStorage) and sent as Authorization: Bearer.'),
      h('label', { for: 'token-input' }, 'token '),
      input,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'use token'), cancel),
    );
    const dialog = h('dialog', { class: 'token-dialog' }, form);
    let answered = false;
    const finish = (token: string | null) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(token);
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (token) finish(token);
    });
    cancel.addEventListener('click', () => finish(null));
    dialog.addEventListener('cancel', () => finish(null));
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
