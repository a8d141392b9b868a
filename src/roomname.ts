/**
 * The "New idea room" / "New project room" prompt: a name (a fresh id suggested) checked as it
 * is typed against the server's room-name rules, with a message that says what is wrong.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { isRoomId, newRoomId, ROOM_ID_PATTERN, roomFromAnswer } from './rooms';
import { OmniForgeRequestError } from './server';
import type { IOmniForgeServer } from './tokens';

/** The longest id the server takes (jupyter_omniforge/names.py). */
const MAX_ID = 128;

/**
 * What is wrong with `answer` as the id of a `kind` room, in the user's language; null when
 * nothing is.
 */
export function roomNameProblem(
  kind: string,
  answer: string,
  trans: TranslationBundle
): string | null {
  const id = answer.trim();
  if (roomFromAnswer(kind, id)) {
    return null;
  }
  if (!id) {
    return trans.__('A room needs a name.');
  }
  if (id.length > MAX_ID) {
    return trans.__('A room name has at most %1 characters; this one has %2.', MAX_ID, id.length);
  }
  const bad = Array.from(new Set(Array.from(id).filter(c => !isRoomId(c))));
  const shown = bad.map(c => (c === ' ' ? trans.__('space') : `"${c}"`)).join(', ');
  return trans.__('A room name cannot hold %1: use letters, digits, ".", "_" and "-".', shown);
}

/** The dialog's body: the kind as a prefix, the name, and what is wrong with it. */
export class RoomNameBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(
    readonly kind: string,
    text: string,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-Input-Dialog');
    this.addClass('jp-OmniForge-roomName');
    const label = document.createElement('label');
    label.htmlFor = 'jp-OmniForge-roomName-input';
    label.textContent = _trans.__('Room name: letters, digits, ".", "_" and "-" (at most 128)');
    const wrapper = document.createElement('div');
    wrapper.className = 'jp-InputDialog-inputWrapper';
    const prefix = document.createElement('span');
    prefix.className = 'jp-InputDialog-inputPrefix';
    prefix.textContent = `${kind}:`;
    prefix.setAttribute('aria-hidden', 'true');
    this._input = document.createElement('input');
    this._input.id = 'jp-OmniForge-roomName-input';
    this._input.className = 'jp-mod-styled';
    this._input.required = true;
    // The browser marks the input :invalid, and the dialog disables its accept button.
    // (The kind may be typed too: `idea:plans` is the room `idea:plans`.)
    this._input.pattern = `(?:${kind}:)?${ROOM_ID_PATTERN}`;
    this._input.value = text;
    this._input.setAttribute('aria-describedby', 'jp-OmniForge-roomName-problem');
    this._problem = document.createElement('p');
    this._problem.id = 'jp-OmniForge-roomName-problem';
    this._problem.className = 'jp-OmniForge-roomName-problem';
    this._problem.setAttribute('aria-live', 'polite');
    wrapper.append(prefix, this._input);
    this.node.append(label, wrapper, this._problem);
    this._input.addEventListener('input', () => this._check());
    this._check();
  }

  getValue(): string {
    return this._input.value;
  }

  private _check(): void {
    const problem = roomNameProblem(this.kind, this._input.value, this._trans);
    this._problem.textContent = problem ?? '';
    this._input.setAttribute('aria-invalid', problem ? 'true' : 'false');
  }

  private readonly _input: HTMLInputElement;
  private readonly _problem: HTMLParagraphElement;
}

/**
 * Ask for the name of a new `kind` room until it is a valid one (or the user cancels); a name
 * that is already a room is opened only when the user says so. Resolves with the room name.
 */
export async function askRoomName(
  server: IOmniForgeServer,
  kind: string,
  trans: TranslationBundle
): Promise<string | null> {
  let text = newRoomId();
  for (;;) {
    const answer = await showDialog<string>({
      title: kind === 'idea' ? trans.__('New idea room') : trans.__('New project room'),
      body: new RoomNameBody(kind, text, trans),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Create') })
      ],
      focusNodeSelector: 'input'
    });
    if (!answer.button.accept) {
      return null;
    }
    text = answer.value ?? '';
    const room = roomFromAnswer(kind, text);
    if (!room) {
      continue; // (Enter on an invalid name) asked again, with the message
    }
    if (!(await roomExists(server, room))) {
      return room;
    }
    const choice = await showDialog({
      title: trans.__('%1 already exists', room),
      body: trans.__('Someone has already started %1. Open it, or choose another name?', room),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Choose another name') }),
        Dialog.okButton({ label: trans.__('Open %1', room) })
      ]
    });
    if (choice.button.accept) {
      return room;
    }
  }
}

/** Whether the server keeps a room of that name (when it cannot tell: no). */
async function roomExists(server: IOmniForgeServer, room: string): Promise<boolean> {
  try {
    await server.requestJSON(`rooms/${room}`);
    return true;
  } catch (error) {
    if (!(error instanceof OmniForgeRequestError) || error.status !== 404) {
      console.warn(`OmniForge: could not tell whether ${room} exists`, error);
    }
    return false;
  }
}
