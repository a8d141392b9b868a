/**
 * How a person is drawn: their avatar picture, or their initials on their colour.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { type ISignal, Signal } from '@lumino/signaling';

import type { ConnectionState, IAwarenessUser } from './tokens';

/** An `[r, g, b]` in 0–255. */
export type RGB = [number, number, number];

namespace Private {
  /** A detached element the browser parses colours with. */
  export let probe: HTMLElement | undefined;
  /** Colours resolved in the current theme. */
  export const resolved = new Map<string, RGB>();

  /** A signal that fires when `document.body`'s theme attributes change. */
  export function themeSignal(): ISignal<unknown, void> {
    const owner = {};
    const signal = new Signal<unknown, void>(owner);
    if (typeof MutationObserver !== 'undefined' && typeof document !== 'undefined') {
      // After the theme's stylesheet is in: the variables then have their new values.
      new MutationObserver(() => requestAnimationFrame(() => signal.emit())).observe(document.body, {
        attributes: true,
        attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light']
      });
    }
    return signal;
  }
}

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

/** The colour of anyone whose colour is missing or not one we may paint. */
const FALLBACK_COLOR = 'var(--jp-collaborator-color1)';
/** The colours a user may be painted in: hex, or one of JupyterLab's collaborator variables. */
const SAFE_COLOR = /^(#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})|var\(--jp-collaborator-color[1-9]\))$/i;

/** The user's colour when it is a safe one, else a JupyterLab collaborator colour. */
export function colorOf(user: IAwarenessUser): string {
  const color = user.color;
  return isSafeColor(color) ? color : FALLBACK_COLOR;
}

/** Whether `color` may be painted (and claimed for oneself, which the server checks too). */
export function isSafeColor(color: unknown): color is string {
  return typeof color === 'string' && SAFE_COLOR.test(color);
}

/**
 * `color` as the page paints it now: a CSS variable resolved on `document.body` (where the
 * theme sets them), anything else parsed by the browser. Black when it cannot be parsed.
 */
export function resolveColor(color: string): RGB {
  const known = Private.resolved.get(color);
  if (known) {
    return known;
  }
  const rgb = parseColor(color);
  if (rgb) {
    // Failures are not kept: a theme still loading has no variables yet.
    Private.resolved.set(color, rgb);
  }
  return rgb ?? [0, 0, 0];
}

function parseColor(color: string): RGB | null {
  let value = color.trim();
  const variable = /^var\((--[\w-]+)\)$/.exec(value);
  if (variable) {
    value = getComputedStyle(document.body).getPropertyValue(variable[1]).trim();
  }
  const probe = (Private.probe ??= document.createElement('span'));
  probe.style.color = '';
  probe.style.color = value;
  if (!value || !probe.style.color) {
    return null;
  }
  document.body.appendChild(probe);
  const parsed = getComputedStyle(probe).color.match(/[\d.]+/g) ?? [];
  probe.remove();
  const [r, g, b] = parsed.map(Number);
  return [r || 0, g || 0, b || 0];
}

/** `rgb(…)`, or `rgba(…)` with `alpha`. */
export function cssColor(rgb: RGB, alpha = 1): string {
  return alpha < 1 ? `rgba(${rgb.join(', ')}, ${alpha})` : `rgb(${rgb.join(', ')})`;
}

/** WCAG's relative luminance. */
function luminance(rgb: RGB): number {
  const [r, g, b] = rgb.map(c => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * Black or white, whichever reads better on `background`. One of the two always reaches 4.5:1
 * (WCAG AA): the worse background, luminance ≈ 0.18, still gives 4.6:1 with black.
 */
export function textColorOn(background: RGB): 'black' | 'white' {
  const l = luminance(background);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? 'black' : 'white';
}

/** The inline style of a user's avatar or label: their colour, text readable on it. */
export function colorStyle(user: IAwarenessUser): { backgroundColor: string; color: string } {
  const color = colorOf(user);
  return { backgroundColor: color, color: textColorOn(resolveColor(color)) };
}

/**
 * Fires when JupyterLab's theme changes: the collaborator colours change with it, and so do
 * the text colours chosen for them.
 */
export const themeChanged: ISignal<unknown, void> = Private.themeSignal();
themeChanged.connect(() => Private.resolved.clear());

/** A DOM avatar (for the Lumino widgets; the sidebar draws the same with React). */
export function createAvatar(user: IAwarenessUser): HTMLElement {
  const node = document.createElement('span');
  node.className = 'jp-OmniForge-avatar';
  node.title = user.display_name || user.name;
  node.dataset.username = user.username;
  Object.assign(node.style, colorStyle(user));
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

/** What a connection state is called, in the user's language. */
export function stateLabel(state: ConnectionState, trans: TranslationBundle): string {
  switch (state) {
    case 'connecting':
      return trans.__('Connecting…');
    case 'connected':
      return trans.__('Connected');
    case 'reconnecting':
      return trans.__('Reconnecting…');
    case 'offline':
      return trans.__('Offline');
    case 'unavailable':
      return trans.__('Unavailable');
  }
}
