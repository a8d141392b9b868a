/**
 * The Comments panel beside a room editor: a new thread on the selection, the threads in the
 * order of the document (room-wide ones after them), each with its comments, reactions, a reply
 * box and resolve/reopen; resolved and orphaned threads in sections of their own.
 *
 * Comment HTML is rendered by the server, and goes through JupyterLab's sanitizer again here
 * before it reaches the page.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { type ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';
import { flushSync } from 'react-dom';

import { colorStyle, initialsOf } from '../avatar';
import type { IAwarenessUser } from '../tokens';
import { mark } from './model';
import {
  type IComment,
  type ICommentUser,
  type IThread,
  nameOf,
  REACTIONS
} from './types';

/** Threads drawn at first, and added by each "Show more". */
export const THREAD_PAGE = 50;

/**
 * Open threads drawn in full at once: more than a screenful. The rest of the page is drawn as
 * light cards (their quote) first, and in full on the next frame: a long list shows at once.
 */
export const FIRST_DRAWN = 12;
/** How many suggestions the `@` list shows. */
const SUGGESTIONS_MAX = 8;

/** What the panel needs from the room it sits in. */
export interface ICommentsHost {
  readonly room: string;
  readonly trans: TranslationBundle;
  /** JupyterLab's sanitizer (ISanitizer). */
  readonly sanitizer: { sanitize(dirty: string): string };
  /** The current user's name. */
  readonly me: () => string;
  /** Every thread, any order. */
  readonly threads: () => Iterable<IThread>;
  readonly loaded: () => boolean;
  readonly error: () => string | null;
  /** Where a thread is in the editor now (null: room-wide, orphaned or not shown). */
  readonly rangeOf: (id: string) => { from: number; to: number } | null;
  /** The text of the editor in a range. */
  readonly textAt: (from: number, to: number) => string;
  readonly isOrphaned: (thread: IThread) => boolean;
  /** Whether this user may comment here (undefined: not known, let the server judge). */
  readonly canComment: () => boolean | undefined;
  /** People to suggest after `@`: the room's collaborators first, then recent authors. */
  readonly people: () => ICommentUser[];
  /** The draft of a new thread (its quote), or null. */
  readonly draft: () => { id: number; quote: string } | null;
  /** What was typed between asking for a new thread and its box showing. */
  readonly takeTyped: () => string;
  readonly active: () => string | null;
  readonly changed: ISignal<unknown, void>;
  /** Ask for a new thread on the editor's selection (or its line). */
  startThread(): void;
  cancelDraft(): void;
  submitDraft(body: string): Promise<void>;
  reply(thread: IThread, body: string): Promise<void>;
  setResolved(thread: IThread, resolved: boolean): Promise<void>;
  react(comment: IComment, emoji: string, on: boolean): Promise<void>;
  editComment(comment: IComment, body: string): Promise<void>;
  deleteComment(comment: IComment): Promise<void>;
  /** Show the thread in the editor (select its highlight, scroll to it). */
  reveal(thread: IThread): void;
}

export class CommentsPanel extends ReactWidget {
  constructor(private readonly _host: ICommentsHost) {
    super();
    this.addClass('jp-OmniForge-comments');
    this.node.setAttribute('role', 'complementary');
    this.node.setAttribute('aria-label', _host.trans.__('Comments on %1', _host.room));
    this.node.dataset.room = _host.room;
    _host.changed.connect(this._onChanged, this);
  }

  override dispose(): void {
    this._host.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  protected render(): JSX.Element {
    // Drawn again whenever the model changes.
    return <UseSignal signal={this._draw}>{() => <PanelView host={this._host} />}</UseSignal>;
  }

  /**
   * Draw once per task that changed anything, at its end, and before it returns to the browser.
   * A React update made outside a React event waits for a scheduler task, and in a profile of
   * a room opening that task ran behind the browser's next frame (the editor's layout, with the
   * highlights just added): 10 to 50 ms between the first page of threads and its cards. One
   * change also emits more than once (the threads, then their ranges): drawn once for all.
   */
  private _onChanged(): void {
    if (this._queued) {
      return;
    }
    this._queued = true;
    queueMicrotask(() => {
      this._queued = false;
      if (!this.isDisposed) {
        flushSync(() => this._draw.emit());
      }
    });
  }

  private _queued = false;
  private _draw = new Signal<this, void>(this);
}

function PanelView(props: { host: ICommentsHost }): JSX.Element {
  const { host } = props;
  const { trans } = host;
  React.useLayoutEffect(() => mark(`drawn:${host.room}`));
  const [shown, setShown] = React.useState(THREAD_PAGE);
  const [drawn, setDrawn] = React.useState(FIRST_DRAWN);
  const [showResolved, setShowResolved] = React.useState(false);

  const open: { thread: IThread; at: number }[] = [];
  const resolved: IThread[] = [];
  const orphaned: IThread[] = [];
  for (const thread of host.threads()) {
    if (host.isOrphaned(thread)) {
      orphaned.push(thread);
    } else if (thread.resolved) {
      resolved.push(thread);
    } else {
      const range = thread.anchor ? host.rangeOf(thread.id) : null;
      // Room-wide threads (and anchors not placed yet) after the anchored ones.
      open.push({ thread, at: range ? range.from : Number.MAX_SAFE_INTEGER });
    }
  }
  open.sort((a, b) => a.at - b.at || a.thread.created - b.thread.created);
  const byCreation = (a: IThread, b: IThread): number => a.created - b.created;
  resolved.sort(byCreation);
  orphaned.sort(byCreation);
  const can = host.canComment() !== false;
  const draft = host.draft();
  const total = open.length + resolved.length + orphaned.length;
  // Cards past `drawn` are light until the next frame (once there are any to draw).
  const full = drawn >= Math.min(shown, open.length);
  React.useEffect(() => {
    if (full) {
      return;
    }
    const frame = requestAnimationFrame(() => setDrawn(shown));
    return () => cancelAnimationFrame(frame);
  }, [full, shown]);
  React.useLayoutEffect(() => {
    if (full) {
      mark(`full:${host.room}`);
    }
  });

  return (
    <div className="jp-OmniForge-comments-body">
      <div className="jp-OmniForge-comments-header">
        <h2 className="jp-OmniForge-comments-title">
          {trans.__('Comments')} <span className="jp-OmniForge-count">{open.length}</span>
        </h2>
        <Button
          className="jp-mod-styled jp-mod-accept jp-OmniForge-comments-new"
          disabled={!can}
          title={
            can
              ? trans.__('Comment on the selection (%1)', 'Ctrl+Alt+M')
              : trans.__('You may not comment in %1', host.room)
          }
          onClick={() => host.startThread()}
        >
          {trans.__('Comment')}
        </Button>
      </div>
      {host.error() && (
        <p className="jp-OmniForge-comments-error" role="alert">
          {host.error()}
        </p>
      )}
      {draft && <Draft key={draft.id} host={host} quote={draft.quote} />}
      {!host.loaded() ? (
        <p className="jp-OmniForge-empty">{trans.__('Loading…')}</p>
      ) : total === 0 && !draft ? (
        <p className="jp-OmniForge-empty">
          {trans.__('No comments yet. Select some text and press Comment.')}
        </p>
      ) : null}
      {open.length > 0 && (
        <ol className="jp-OmniForge-threads" aria-label={trans.__('Open threads')}>
          {open.slice(0, shown).map(({ thread }, i) =>
            i < drawn ? (
              <ThreadCard key={thread.id} {...cardProps(host, thread, can)} />
            ) : (
              <PendingCard key={thread.id} thread={thread} quote={cardProps(host, thread, can).quote} />
            )
          )}
        </ol>
      )}
      {open.length > shown && (
        <Button
          minimal
          small
          className="jp-OmniForge-secondary jp-OmniForge-comments-more"
          onClick={() => setShown(shown + THREAD_PAGE)}
        >
          {trans.__('Show %1 more of %2', Math.min(THREAD_PAGE, open.length - shown), open.length - shown)}
        </Button>
      )}
      {orphaned.length > 0 && (
        <section className="jp-OmniForge-comments-section jp-OmniForge-comments-orphaned">
          <h3 className="jp-OmniForge-comments-sectionTitle">
            {trans.__('Orphaned')} <span className="jp-OmniForge-count">{orphaned.length}</span>
          </h3>
          <p className="jp-OmniForge-hint">
            {trans.__('The text these threads were on was deleted.')}
          </p>
          <ol className="jp-OmniForge-threads" aria-label={trans.__('Orphaned threads')}>
            {orphaned.slice(0, shown).map(thread => (
              <ThreadCard key={thread.id} {...cardProps(host, thread, can)} />
            ))}
          </ol>
        </section>
      )}
      {resolved.length > 0 && (
        <section className="jp-OmniForge-comments-section jp-OmniForge-comments-resolved">
          <h3 className="jp-OmniForge-comments-sectionTitle">
            <Button
              minimal
              className="jp-OmniForge-sectionToggle"
              aria-expanded={showResolved}
              onClick={() => setShowResolved(!showResolved)}
            >
              {trans.__('Resolved')} <span className="jp-OmniForge-count">{resolved.length}</span>
            </Button>
          </h3>
          {showResolved && (
            <ol className="jp-OmniForge-threads" aria-label={trans.__('Resolved threads')}>
              {resolved.slice(0, shown).map(thread => (
                <ThreadCard key={thread.id} {...cardProps(host, thread, can)} />
              ))}
            </ol>
          )}
        </section>
      )}
    </div>
  );
}

/** A card before it is drawn in full (see FIRST_DRAWN): its quote, no comments or buttons. */
function PendingCard(props: { thread: IThread; quote: string | null }): JSX.Element {
  return (
    <li className="jp-OmniForge-thread jp-mod-pending" data-thread={props.thread.id} aria-busy="true">
      <div className="jp-OmniForge-quote">{props.quote ?? ''}</div>
    </li>
  );
}

function Draft(props: { host: ICommentsHost; quote: string }): JSX.Element {
  const { host, quote } = props;
  const { trans } = host;
  const [typed] = React.useState(() => host.takeTyped());
  return (
    <div className="jp-OmniForge-thread jp-OmniForge-draft">
      <blockquote className="jp-OmniForge-quote">{quote || trans.__('The whole room')}</blockquote>
      <Composer
        host={host}
        label={trans.__('New comment')}
        submitLabel={trans.__('Comment')}
        initial={typed}
        autoFocus
        onSubmit={body => host.submitDraft(body)}
        onCancel={() => host.cancelDraft()}
      />
    </div>
  );
}

interface IThreadCardProps {
  host: ICommentsHost;
  thread: IThread;
  can: boolean;
  /** The text it is on now (null: room-wide). */
  quote: string | null;
  active: boolean;
}

/** What a card shows: it is drawn again only when one of these changes. */
function cardProps(host: ICommentsHost, thread: IThread, can: boolean): IThreadCardProps {
  const range = thread.anchor ? host.rangeOf(thread.id) : null;
  const quote = range ? host.textAt(range.from, range.to) : (thread.anchor?.text ?? null);
  return { host, thread, can, quote, active: host.active() === thread.id };
}

const ThreadCard = React.memo(function ThreadCard(props: IThreadCardProps): JSX.Element {
  const { host, thread, can, quote, active } = props;
  const { trans } = host;
  const ref = React.useRef<HTMLLIElement>(null);
  React.useEffect(() => {
    if (active) {
      ref.current?.scrollIntoView?.({ block: 'nearest' });
    }
  }, [active]);
  const first = thread.comments[0];
  const label = trans.__(
    'Thread by %1: %2',
    nameOf(thread.author),
    (first?.body ?? '').slice(0, 60)
  );
  return (
    <li
      ref={ref}
      className={`jp-OmniForge-thread${active ? ' jp-mod-active' : ''}`}
      data-thread={thread.id}
      data-resolved={thread.resolved ? 'true' : 'false'}
      aria-label={label}
    >
      {quote !== null ? (
        <Button
          className="jp-OmniForge-quote"
          title={trans.__('Show in the editor')}
          aria-label={trans.__('Show in the editor: %1', quote)}
          onClick={() => host.reveal(thread)}
        >
          {quote}
        </Button>
      ) : (
        <div className="jp-OmniForge-quote jp-OmniForge-roomWide">{trans.__('The whole room')}</div>
      )}
      <ol className="jp-OmniForge-commentList">
        {thread.comments.map(comment => (
          <CommentItem key={comment.id} host={host} comment={comment} can={can} />
        ))}
      </ol>
      {thread.resolved && thread.resolved_by && (
        <p className="jp-OmniForge-hint">
          {trans.__('Resolved by %1', nameOf(thread.resolved_by))}
        </p>
      )}
      <div className="jp-OmniForge-threadActions">
        {can && !thread.resolved && <ReplyBox host={host} thread={thread} />}
        {can && (
          <Button
            minimal
            small
            className="jp-OmniForge-secondary jp-OmniForge-resolve"
            onClick={() => void host.setResolved(thread, !thread.resolved)}
          >
            {thread.resolved ? trans.__('Reopen') : trans.__('Resolve')}
          </Button>
        )}
      </div>
    </li>
  );
});

/**
 * "Reply", which opens a reply box (a long list draws one button per thread, not a form):
 * Escape or Cancel closes it and gives the focus back to the button.
 */
function ReplyBox(props: { host: ICommentsHost; thread: IThread }): JSX.Element {
  const { host, thread } = props;
  const { trans } = host;
  const [open, setOpen] = React.useState(false);
  // ui-components' Button takes no ref: the focus goes back through this box.
  const box = React.useRef<HTMLDivElement>(null);
  const name = nameOf(thread.author);
  if (!open) {
    return (
      <div ref={box} className="jp-OmniForge-replyBox">
        <Button
          minimal
          small
          className="jp-OmniForge-secondary jp-OmniForge-reply"
          aria-label={trans.__('Reply to %1', name)}
          onClick={() => setOpen(true)}
        >
          {trans.__('Reply')}
        </Button>
      </div>
    );
  }
  const close = (): void => {
    setOpen(false);
    requestAnimationFrame(() => box.current?.querySelector('button')?.focus());
  };
  return (
    <Composer
      host={host}
      label={trans.__('Reply to %1', name)}
      submitLabel={trans.__('Reply')}
      compact
      autoFocus
      onSubmit={async body => {
        await host.reply(thread, body);
      }}
      onCancel={close}
    />
  );
}

function CommentItem(props: {
  host: ICommentsHost;
  comment: IComment;
  can: boolean;
}): JSX.Element {
  const { host, comment, can } = props;
  const { trans } = host;
  const [editing, setEditing] = React.useState(false);
  const [picking, setPicking] = React.useState(false);
  const me = host.me();
  const mine = comment.author.username === me;
  const html = React.useMemo(
    () => ({ __html: sanitized(host.sanitizer, comment.html ?? '') }),
    [comment.html, host.sanitizer]
  );
  const when = new Date(comment.created * 1000);
  const reactions = Object.entries(comment.reactions ?? {}).filter(([, users]) => users.length);
  return (
    <li className="jp-OmniForge-comment" data-comment={comment.id}>
      <div className="jp-OmniForge-commentHead">
        <PersonBadge user={comment.author} />
        <span className="jp-OmniForge-commentAuthor">{nameOf(comment.author)}</span>
        <time
          className="jp-OmniForge-commentTime"
          dateTime={when.toISOString()}
          title={Dates.absolute(when)}
        >
          {Dates.relative(when)}
        </time>
        {comment.edited !== null && (
          <span className="jp-OmniForge-commentEdited">{trans.__('(edited)')}</span>
        )}
      </div>
      {editing ? (
        <Composer
          host={host}
          label={trans.__('Edit your comment')}
          submitLabel={trans.__('Save')}
          initial={comment.body}
          autoFocus
          onSubmit={async body => {
            await host.editComment(comment, body);
            setEditing(false);
          }}
          onCancel={() => setEditing(false)}
        />
      ) : (
        <div className="jp-OmniForge-commentBody" dangerouslySetInnerHTML={html} />
      )}
      <div className="jp-OmniForge-reactions">
        {reactions.map(([emoji, users]) => {
          const on = users.includes(me);
          return (
            <Button
              key={emoji}
              className="jp-OmniForge-reaction"
              aria-pressed={on}
              disabled={!can}
              title={users.join(', ')}
              aria-label={trans.__('%1 %2, by %3', emoji, users.length, users.join(', '))}
              onClick={() => void host.react(comment, emoji, !on)}
            >
              {emoji} {users.length}
            </Button>
          );
        })}
        {can && (
          <Button
            minimal
            small
            className="jp-OmniForge-iconButton jp-OmniForge-addReaction"
            aria-expanded={picking}
            aria-label={trans.__('Add a reaction')}
            title={trans.__('Add a reaction')}
            onClick={() => setPicking(!picking)}
          >
            ☺+
          </Button>
        )}
        {can && mine && !editing && (
          <>
            <Button minimal className="jp-OmniForge-link" onClick={() => setEditing(true)}>
              {trans.__('Edit')}
            </Button>
            <Button
              minimal
              className="jp-OmniForge-link"
              onClick={() => void host.deleteComment(comment)}
            >
              {trans.__('Delete')}
            </Button>
          </>
        )}
      </div>
      {picking && (
        <div className="jp-OmniForge-reactionPicker" role="group" aria-label={trans.__('Reactions')}>
          {REACTIONS.map(emoji => (
            <Button
              key={emoji}
              className="jp-OmniForge-reaction"
              aria-label={trans.__('React with %1', emoji)}
              onClick={() => {
                setPicking(false);
                void host.react(comment, emoji, true);
              }}
            >
              {emoji}
            </Button>
          ))}
        </div>
      )}
    </li>
  );
}

function PersonBadge(props: { user: ICommentUser }): JSX.Element {
  const user: IAwarenessUser = { ...props.user, name: nameOf(props.user) };
  return (
    <span className="jp-OmniForge-avatar" aria-hidden="true" style={colorStyle(user)}>
      {initialsOf(user)}
    </span>
  );
}

/**
 * Times as JupyterLab shows them (like `Time.formatHuman`), with formatters made once: a
 * formatter per comment is most of what drawing a long list of threads costs.
 */
namespace Dates {
  let formats: { relative: Intl.RelativeTimeFormat; absolute: Intl.DateTimeFormat } | null =
    null;
  const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
    ['year', 31536000],
    ['month', 2592000],
    ['week', 604800],
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60]
  ];

  function get(): NonNullable<typeof formats> {
    const lang = document.documentElement.lang || undefined;
    return (formats ??= {
      relative: new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }),
      absolute: new Intl.DateTimeFormat(lang, { dateStyle: 'short', timeStyle: 'short' })
    });
  }

  export function relative(when: Date): string {
    const seconds = (when.getTime() - Date.now()) / 1000;
    for (const [unit, size] of UNITS) {
      if (Math.abs(seconds) >= size) {
        return get().relative.format(Math.round(seconds / size), unit);
      }
    }
    return get().relative.format(0, 'second');
  }

  export function absolute(when: Date): string {
    return get().absolute.format(when);
  }
}

/** Sanitized HTML by its source: a thread drawn again (or scrolled back to) costs nothing. */
const SANITIZED = new Map<string, string>();
const SANITIZED_MAX = 2000;

function sanitized(sanitizer: ICommentsHost['sanitizer'], html: string): string {
  let clean = SANITIZED.get(html);
  if (clean === undefined) {
    clean = sanitizer.sanitize(html);
    if (SANITIZED.size >= SANITIZED_MAX) {
      SANITIZED.delete(SANITIZED.keys().next().value as string);
    }
    SANITIZED.set(html, clean);
  }
  return clean;
}

let composerIds = 0;

/**
 * A text box for a comment: Ctrl+Enter sends, Escape cancels, and `@` suggests people (arrow
 * keys move, Enter or Tab picks).
 */
function Composer(props: {
  host: ICommentsHost;
  label: string;
  submitLabel: string;
  initial?: string;
  autoFocus?: boolean;
  compact?: boolean;
  onSubmit(body: string): Promise<void>;
  onCancel?(): void;
}): JSX.Element {
  const { host, label } = props;
  const { trans } = host;
  const [text, setText] = React.useState(props.initial ?? '');
  const [busy, setBusy] = React.useState(false);
  const [failure, setFailure] = React.useState<string | null>(null);
  const [mention, setMention] = React.useState<{ at: number; query: string } | null>(null);
  const [choice, setChoice] = React.useState(0);
  const area = React.useRef<HTMLTextAreaElement>(null);
  const caretAfter = React.useRef<number | null>(null);
  const [id] = React.useState(() => `jp-OmniForge-composer-${++composerIds}`);

  const suggestions = React.useMemo(() => {
    if (!mention) {
      return [];
    }
    const query = mention.query.toLowerCase();
    return host
      .people()
      .filter(
        person =>
          person.username.toLowerCase().startsWith(query) ||
          nameOf(person).toLowerCase().split(/\s+/).some(word => word.startsWith(query))
      )
      .slice(0, SUGGESTIONS_MAX);
  }, [mention, host]);

  const follow = (value: string, caret: number): void => {
    const before = value.slice(0, caret);
    const match = /(^|[\s(])@([\w.-]*)$/.exec(before);
    setMention(match ? { at: caret - match[2].length, query: match[2] } : null);
    setChoice(0);
  };

  const pick = (person: ICommentUser): void => {
    if (!mention || !area.current) {
      return;
    }
    const caret = area.current.selectionStart;
    const value = `${text.slice(0, mention.at)}${person.username} ${text.slice(caret)}`;
    const end = mention.at + person.username.length + 1;
    caretAfter.current = end;
    setText(value);
    setMention(null);
  };
  // Focused with the caret after what it starts with (a draft may start with typed keys).
  React.useLayoutEffect(() => {
    if (props.autoFocus && area.current) {
      const end = area.current.value.length;
      area.current.focus();
      area.current.setSelectionRange(end, end);
    }
  }, []);
  // After the picked name is in (before the next key is handled): the caret goes after it.
  React.useLayoutEffect(() => {
    if (caretAfter.current !== null) {
      area.current?.setSelectionRange(caretAfter.current, caretAfter.current);
      caretAfter.current = null;
    }
  }, [text]);

  const submit = async (): Promise<void> => {
    const body = text.trim();
    if (!body || busy) {
      return;
    }
    setBusy(true);
    setFailure(null);
    try {
      await props.onSubmit(body);
      setText('');
    } catch (error) {
      setFailure(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };

  const onKeyDown = (event: React.KeyboardEvent<HTMLTextAreaElement>): void => {
    if (suggestions.length) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const step = event.key === 'ArrowDown' ? 1 : -1;
        setChoice((choice + step + suggestions.length) % suggestions.length);
        return;
      }
      const plain = !event.ctrlKey && !event.metaKey && !event.altKey && !event.shiftKey;
      if ((event.key === 'Enter' || event.key === 'Tab') && plain) {
        // (Ctrl+Enter still sends: "@alice" fully typed need not be picked.)
        event.preventDefault();
        pick(suggestions[choice]);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        setMention(null);
        return;
      }
    }
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      void submit();
    } else if (event.key === 'Escape' && props.onCancel) {
      event.preventDefault();
      event.stopPropagation();
      props.onCancel();
    }
  };

  const listId = `${id}-people`;
  return (
    <form
      className={`jp-OmniForge-composer${props.compact ? ' jp-mod-compact' : ''}`}
      onSubmit={event => {
        event.preventDefault();
        void submit();
      }}
    >
      <textarea
        ref={area}
        className="jp-OmniForge-composerInput"
        aria-label={label}
        placeholder={
          props.compact
            ? trans.__('Reply… (Ctrl+Enter sends)')
            : trans.__('Write a comment… (@ mentions, Ctrl+Enter sends)')
        }
        value={text}
        rows={props.compact && !text ? 2 : 3}
        autoFocus={props.autoFocus}
        disabled={busy}
        aria-autocomplete="list"
        aria-controls={suggestions.length ? listId : undefined}
        aria-activedescendant={suggestions.length ? `${listId}-${choice}` : undefined}
        onChange={event => {
          setText(event.target.value);
          follow(event.target.value, event.target.selectionStart);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => window.setTimeout(() => setMention(null), 150)}
      />
      {suggestions.length > 0 && (
        <ul
          id={listId}
          className="jp-OmniForge-mentionList"
          role="listbox"
          aria-label={trans.__('People to mention')}
        >
          {suggestions.map((person, index) => (
            <li
              key={person.username}
              id={`${listId}-${index}`}
              role="option"
              aria-selected={index === choice}
              className="jp-OmniForge-mentionOption"
              onMouseDown={event => {
                event.preventDefault();
                pick(person);
              }}
            >
              <span className="jp-OmniForge-mentionName">{nameOf(person)}</span>{' '}
              <span className="jp-OmniForge-mentionUser">@{person.username}</span>
            </li>
          ))}
        </ul>
      )}
      {failure && (
        <p className="jp-OmniForge-comments-error" role="alert">
          {failure}
        </p>
      )}
      {(!props.compact || text) && (
        <div className="jp-OmniForge-composerButtons">
          {props.onCancel && (
            <Button
              type="button"
              minimal
              className="jp-OmniForge-secondary"
              onClick={() => props.onCancel?.()}
            >
              {trans.__('Cancel')}
            </Button>
          )}
          <Button
            type="submit"
            className="jp-mod-styled jp-mod-accept"
            disabled={busy || !text.trim()}
          >
            {props.submitLabel}
          </Button>
        </div>
      )}
    </form>
  );
}

/** A signal any object can fire, for a host built from closures. */
export function hostSignal(): Signal<unknown, void> {
  return new Signal<unknown, void>({});
}
