/**
 * How a person is drawn: their avatar picture, or their initials on their colour.
 */
import type { ConnectionState, IAwarenessUser } from './tokens';

export function initialsOf(user: IAwarenessUser): string {
  if (user.initials) {
    return user.initials.slice(0, 2);
  }
  const words = (user.display_name || user.name || user.username).split(/[\s_-]+/).filter(w => w);
  return (
    words
      .slice(0, 2)
      .map(w => w[0])
      .join('')
      .toUpperCase() || '?'
  );
}

/** The user's colour when they have one, else a JupyterLab collaborator colour. */
export function colorOf(user: IAwarenessUser): string {
  return user.color || 'var(--jp-collaborator-color1)';
}

/** A DOM avatar (for the Lumino widgets; the sidebar draws the same with React). */
export function createAvatar(user: IAwarenessUser): HTMLElement {
  const node = document.createElement('span');
  node.className = 'jp-OmniForge-avatar';
  node.title = user.display_name || user.name;
  node.dataset.username = user.username;
  node.style.backgroundColor = colorOf(user);
  if (user.avatar_url) {
    const img = document.createElement('img');
    img.src = user.avatar_url;
    img.alt = '';
    node.appendChild(img);
  } else {
    node.textContent = initialsOf(user);
  }
  return node;
}

const STATE_LABELS: { [state in ConnectionState]: string } = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  unavailable: 'Unavailable'
};

export function stateLabel(state: ConnectionState): string {
  return STATE_LABELS[state];
}
