/**
 * The OmniForge sidebar, laid out like JupyterLab's Running panel: actions to open rooms, then
 * collapsible sections (open rooms, collaborators, the build/deployment feed) with their counts.
 * It draws the models; it holds no state of its own beyond what is expanded and filtered.
 */
import { type ITranslator, nullTranslator, type TranslationBundle } from '@jupyterlab/translation';
import {
  Button,
  caretDownIcon,
  caretRightIcon,
  closeIcon,
  HTMLSelect,
  linkIcon,
  ReactWidget,
  shareIcon,
  ToolbarButtonComponent,
  UseSignal
} from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import type { ISignal } from '@lumino/signaling';
import * as React from 'react';

import { colorStyle, initialsOf } from './avatar';
import { isStale } from './feed';
import { compareNames, isFeedRoom, isRoomName, isTextRoom } from './rooms';
import {
  CommandIDs,
  type ConnectionState,
  type IAwarenessUser,
  type ICollaborator,
  type IEventFeed,
  type IMentions,
  type IOmniForgeServer,
  type IPresence,
  type IRoomInfo,
  type IRun
} from './tokens';

export class OmniForgeSidebar extends ReactWidget {
  constructor(private readonly _props: ISidebarProps) {
    super();
    this.id = 'jp-omniforge-sidebar';
    this.addClass('jp-OmniForge-sidebar');
    // Focusable itself, so that the keyboard shortcut can bring the focus here.
    this.node.tabIndex = -1;
  }

  /** Move the focus into the sidebar (its first action, else the sidebar itself). */
  focus(): void {
    const first = this.node.querySelector<HTMLElement>('button:not([disabled]), input');
    (first ?? this.node).focus();
  }

  protected render(): JSX.Element {
    return <SidebarView {...this._props} />;
  }
}

export interface ISidebarProps {
  server: IOmniForgeServer;
  presence: IPresence | null;
  feed: IEventFeed | null;
  commands: CommandRegistry;
  translator?: ITranslator;
  /** Mentions of this user in comments (the comments plugin), or none. */
  mentions?: IMentions | null;
}

/** Re-render `render` whenever `signal` fires (nothing to listen to: render once). */
function Follow(props: {
  signal: ISignal<unknown, unknown> | undefined;
  children: () => JSX.Element;
}): JSX.Element {
  if (!props.signal) {
    return props.children();
  }
  return <UseSignal signal={props.signal}>{() => props.children()}</UseSignal>;
}

function SidebarView(props: ISidebarProps): JSX.Element {
  const trans = (props.translator ?? nullTranslator).load('jupyter_omniforge');
  const { server } = props;
  return (
    <Follow signal={server.availabilityChanged}>
      {() => (
        <Follow signal={server.settingsChanged}>
          {() => (
            <Follow signal={props.presence?.changed}>
              {() => <SidebarBody {...props} trans={trans} />}
            </Follow>
          )}
        </Follow>
      )}
    </Follow>
  );
}

function SidebarBody(props: ISidebarProps & { trans: TranslationBundle }): JSX.Element {
  const { server, presence, feed, commands, trans } = props;
  const availability = server.availability;
  const state: ConnectionState = presence?.state ?? feed?.state ?? 'connecting';
  return (
    <div className="jp-OmniForge-sidebar-body">
      <header className="jp-OmniForge-sidebar-header">
        <h2 className="jp-OmniForge-title">{trans.__('OmniForge')}</h2>
        {availability.status === 'ok' && <StatusPill state={state} trans={trans} />}
      </header>
      {availability.status === 'ok' ? (
        <>
          <RoomActions server={server} commands={commands} trans={trans} />
          {props.mentions && (
            <Follow signal={props.mentions.changed}>
              {() => <MentionList mentions={props.mentions!} trans={trans} />}
            </Follow>
          )}
          {presence && server.settings.showPresence && (
            <>
              <RoomList presence={presence} commands={commands} trans={trans} />
              <PeopleList presence={presence} commands={commands} trans={trans} />
            </>
          )}
          {feed && (
            <Follow signal={feed.changed}>
              {() => (
                <Feed
                  feed={feed}
                  presence={server.settings.showPresence ? presence : null}
                  commands={commands}
                  staleAfter={server.settings.staleAfter}
                  trans={trans}
                />
              )}
            </Follow>
          )}
        </>
      ) : (
        <Unavailable server={server} trans={trans} />
      )}
    </div>
  );
}

function StatusPill(props: { state: ConnectionState; trans: TranslationBundle }): JSX.Element {
  const { trans } = props;
  const labels: { [state in ConnectionState]: string } = {
    connecting: trans.__('Connecting…'),
    connected: trans.__('Connected'),
    reconnecting: trans.__('Reconnecting…'),
    offline: trans.__('Offline'),
    unavailable: trans.__('Unavailable')
  };
  return (
    <span className="jp-OmniForge-status" data-state={props.state} role="status">
      {labels[props.state]}
    </span>
  );
}

function Unavailable(props: { server: IOmniForgeServer; trans: TranslationBundle }): JSX.Element {
  const { server, trans } = props;
  const availability = server.availability;
  if (availability.status === 'checking') {
    return <p className="jp-OmniForge-empty">{trans.__('Connecting to OmniForge…')}</p>;
  }
  if (availability.status === 'ok') {
    return <></>;
  }
  const titles = {
    missing: trans.__('OmniForge server extension not found'),
    forbidden: trans.__('Permission denied'),
    error: trans.__('OmniForge is not reachable')
  };
  return (
    <div className="jp-OmniForge-message" data-kind={availability.status} role="alert">
      <strong className="jp-OmniForge-message-title">{titles[availability.status]}</strong>
      <p>{availability.message}</p>
      <Button
        className="jp-mod-styled jp-mod-reject"
        onClick={() => void server.checkAvailability()}
      >
        {trans.__('Try again')}
      </Button>
    </div>
  );
}

function RoomActions(props: {
  server: IOmniForgeServer;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { server, commands, trans } = props;
  const [name, setName] = React.useState('');
  const room = name.trim() || server.settings.defaultRoom;
  const valid = isTextRoom(room);
  const open = (event: React.FormEvent): void => {
    event.preventDefault();
    if (valid) {
      void commands.execute(CommandIDs.openRoom, { room });
      setName('');
    }
  };
  return (
    <section className="jp-OmniForge-section jp-OmniForge-actions">
      <Button
        className="jp-mod-styled jp-mod-accept jp-OmniForge-newIdea"
        title={commands.caption(CommandIDs.newIdea)}
        onClick={() => void commands.execute(CommandIDs.newIdea)}
      >
        {trans.__('New idea room')}
      </Button>
      <form className="jp-OmniForge-openRoom" onSubmit={open}>
        <input
          className="jp-OmniForge-openRoom-input"
          aria-label={trans.__('Room to open')}
          placeholder={server.settings.defaultRoom}
          value={name}
          onChange={event => setName(event.target.value)}
          aria-invalid={!valid}
        />
        <Button className="jp-mod-styled" type="submit" disabled={!valid}>
          {trans.__('Open')}
        </Button>
      </form>
      {!valid && name.trim() !== '' && (
        <p className="jp-OmniForge-hint">
          {isRoomName(room)
            ? trans.__('Only idea, project and preview rooms have text to edit.')
            : trans.__('A room is kind:id, e.g. idea:42 (letters, digits, . _ -).')}
        </p>
      )}
    </section>
  );
}

/**
 * A section of the sidebar whose title folds it away, with how many items it holds; `tools` sit
 * at the right of its header (they do not fold it).
 */
function Section(props: {
  name: string;
  title: string;
  count: number;
  tools?: React.ReactNode;
  children: React.ReactNode;
}): JSX.Element {
  const { name, title, count } = props;
  const [open, setOpen] = React.useState(true);
  const bodyId = `jp-OmniForge-section-${name}`;
  const Caret = open ? caretDownIcon : caretRightIcon;
  return (
    <section
      className={`jp-OmniForge-section jp-OmniForge-${name}`}
      data-collapsed={open ? 'false' : 'true'}
    >
      <div className="jp-OmniForge-sectionHeader">
        <h3 className="jp-OmniForge-sectionTitle">
          <Button
            minimal
            className="jp-OmniForge-sectionToggle"
            aria-expanded={open}
            aria-controls={bodyId}
            onClick={() => setOpen(!open)}
          >
            <Caret.react tag="span" className="jp-OmniForge-caret" />
            <span className="jp-OmniForge-sectionName">{title}</span>
            <span className="jp-OmniForge-count">{count}</span>
          </Button>
        </h3>
      </div>
      {open && props.tools && <div className="jp-OmniForge-sectionTools">{props.tools}</div>}
      <div id={bodyId} className="jp-OmniForge-sectionBody" hidden={!open}>
        {open && props.children}
      </div>
    </section>
  );
}

export function Avatar(props: { user: IAwarenessUser }): JSX.Element {
  const { user } = props;
  return (
    <span
      className="jp-OmniForge-avatar"
      title={user.display_name || user.name}
      data-username={user.username}
      style={colorStyle(user)}
    >
      {user.avatar_url ? <img src={user.avatar_url} alt="" /> : initialsOf(user)}
    </span>
  );
}

function RoomLink(props: {
  room: string;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { room, commands, trans } = props;
  if (!isRoomName(room)) {
    // A notebook or file someone has open (its path): open it here too.
    return (
      <Button
        minimal
        className="jp-OmniForge-link jp-OmniForge-where jp-OmniForge-path"
        title={trans.__('Open %1', room)}
        onClick={() => void commands.execute('docmanager:open', { path: room })}
      >
        {room}
      </Button>
    );
  }
  if (!isTextRoom(room)) {
    return <span className="jp-OmniForge-where">{room}</span>;
  }
  return (
    <Button
      minimal
      className="jp-OmniForge-link jp-OmniForge-where"
      title={trans.__('Open %1', room)}
      onClick={() => void commands.execute(CommandIDs.openRoom, { room })}
    >
      {room}
    </Button>
  );
}

/** "Follow": open the text room a person is in and scroll to their cursor. */
function FollowButton(props: {
  person: ICollaborator;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { person, commands, trans } = props;
  const room = person.rooms.find(isTextRoom);
  if (!room) {
    return null;
  }
  const name = person.user.display_name || person.user.name;
  return (
    <Button
      minimal
      small
      className="jp-OmniForge-follow"
      title={trans.__("Open %1 at %2's cursor", room, name)}
      aria-label={trans.__('Follow %1', name)}
      onClick={() =>
        void commands.execute(CommandIDs.follow, {
          room,
          username: person.user.username,
          name
        })
      }
    >
      {trans.__('Follow')}
    </Button>
  );
}

/** "Share…" for a room, where this user may share it (the share plugin's command decides). */
function ShareButton(props: { room: string; commands: CommandRegistry }): JSX.Element | null {
  const { room, commands } = props;
  const args = { room };
  const shown =
    commands.hasCommand(CommandIDs.shareRoom) && commands.isVisible(CommandIDs.shareRoom, args);
  if (!shown) {
    return null;
  }
  return (
    <ToolbarButtonComponent
      className="jp-OmniForge-shareRoom"
      icon={shareIcon}
      tooltip={commands.label(CommandIDs.shareRoom, args)}
      onClick={() => void commands.execute(CommandIDs.shareRoom, args)}
    />
  );
}

/** An icon-only "Copy link" for a room the editor opens (the room-link plugin's command). */
function CopyLinkButton(props: { room: string; commands: CommandRegistry }): JSX.Element | null {
  const { room, commands } = props;
  const args = { room };
  if (!isTextRoom(room) || !commands.hasCommand(CommandIDs.copyRoomLink)) {
    return null;
  }
  return (
    <ToolbarButtonComponent
      className="jp-OmniForge-copyRoomLink"
      icon={linkIcon}
      tooltip={commands.label(CommandIDs.copyRoomLink, args)}
      onClick={() => void commands.execute(CommandIDs.copyRoomLink, args)}
    />
  );
}

function RoomList(props: {
  presence: IPresence;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { presence, commands, trans } = props;
  // Builds and deployments are the feed's: their rooms show on their rows there.
  const rooms: IRoomInfo[] = presence.rooms
    .filter(room => !isFeedRoom(room.name))
    .sort((a, b) => compareNames(a.name, b.name));
  return (
    <Section name="rooms" title={trans.__('Open rooms')} count={rooms.length}>
      <Follow signal={commands.commandChanged}>
        {() =>
          rooms.length === 0 ? (
            <p className="jp-OmniForge-empty">{trans.__('No open rooms.')}</p>
          ) : (
            <ul className="jp-OmniForge-list">
              {rooms.map(room => (
                <li key={room.name} className="jp-OmniForge-room" data-room={room.name}>
                  <RoomLink room={room.name} commands={commands} trans={trans} />
                  <span className="jp-OmniForge-avatars">
                    {room.users.map(user => (
                      <Avatar key={user.username} user={user} />
                    ))}
                  </span>
                  <CopyLinkButton room={room.name} commands={commands} />
                  <ShareButton room={room.name} commands={commands} />
                </li>
              ))}
            </ul>
          )
        }
      </Follow>
    </Section>
  );
}

function PeopleList(props: {
  presence: IPresence;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { commands, trans } = props;
  const nameOf = (person: ICollaborator): string => person.user.display_name || person.user.name;
  const people = [...props.presence.collaborators].sort((a, b) =>
    compareNames(nameOf(a), nameOf(b))
  );
  // Offline, the others' states are the last ones heard: say so rather than show them as live.
  const stale = props.presence.state === 'offline' || props.presence.state === 'reconnecting';
  return (
    <Section name="people" title={trans.__('Collaborators')} count={people.length}>
      {stale && (
        <p className="jp-OmniForge-stalePresence" role="status">
          {trans.__('Offline: who is where may be out of date.')}
        </p>
      )}
      {people.length === 0 ? (
        <p className="jp-OmniForge-empty">{trans.__('Nobody else is here.')}</p>
      ) : (
        <ul className="jp-OmniForge-list" data-stale={stale ? 'true' : 'false'}>
          {people.map(person => (
            <li
              key={person.user.username}
              className="jp-OmniForge-collaborator"
              data-username={person.user.username}
              data-local={person.local ? 'true' : 'false'}
            >
              <Avatar user={person.user} />
              <span className="jp-OmniForge-person">
                <span className="jp-OmniForge-name">
                  {nameOf(person)}
                  {person.local && <span className="jp-OmniForge-you"> {trans.__('(you)')}</span>}
                </span>
                <span className="jp-OmniForge-rooms-of">
                  {person.rooms.length === 0 ? (
                    <span className="jp-OmniForge-where jp-OmniForge-idle">
                      {trans.__('idle')}
                    </span>
                  ) : (
                    person.rooms.map(room => (
                      <RoomLink key={room} room={room} commands={commands} trans={trans} />
                    ))
                  )}
                </span>
              </span>
              {!person.local && !stale && (
                <FollowButton person={person} commands={commands} trans={trans} />
              )}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

/** What the feed's filter shows. */
type RunFilter = 'all' | 'running' | 'stale' | 'failed' | 'completed';

/** How a run reads at `now`: its state, or `stale` when it stopped reporting. */
function shownState(run: IRun, now: number, staleAfter: number): RunFilter {
  return isStale(run, now, staleAfter) ? 'stale' : run.state === 'created' ? 'running' : run.state;
}

function Feed(props: {
  feed: IEventFeed;
  presence: IPresence | null;
  commands: CommandRegistry;
  staleAfter: number;
  trans: TranslationBundle;
}): JSX.Element {
  const { feed, presence, commands, staleAfter, trans } = props;
  const [filter, setFilter] = React.useState<RunFilter>('all');
  const running = feed.runs.some(run => run.state === 'running' || run.state === 'created');
  const now = useClock(running);
  const runs = feed.runs.filter(
    run => filter === 'all' || shownState(run, now, staleAfter) === filter
  );
  const finished = feed.runs.some(run => run.state === 'completed' || run.state === 'failed');
  const labels: Record<RunFilter, string> = {
    all: trans.__('All'),
    running: trans.__('Running'),
    stale: trans.__('Stale'),
    failed: trans.__('Failed'),
    completed: trans.__('Completed')
  };
  const tools = (
    <>
      {feed.state !== 'connected' && <StatusPill state={feed.state} trans={trans} />}
      <HTMLSelect
        className="jp-OmniForge-feedFilter"
        aria-label={trans.__('Show builds and deployments by state')}
        value={filter}
        onChange={event => setFilter(event.currentTarget.value as RunFilter)}
        options={(Object.keys(labels) as RunFilter[]).map(value => ({
          value,
          label: labels[value]
        }))}
      />
      <ToolbarButtonComponent
        className="jp-OmniForge-clearFinished"
        icon={closeIcon}
        tooltip={trans.__('Clear finished builds and deployments')}
        enabled={finished}
        onClick={() => feed.clearFinished()}
      />
    </>
  );
  const roomsByName = new Map((presence?.rooms ?? []).map(room => [room.name, room]));
  return (
    <Section
      name="feed"
      title={trans.__('Builds & deployments')}
      count={runs.length}
      tools={tools}
    >
      {runs.length === 0 ? (
        <p className="jp-OmniForge-empty">
          {!feed.loaded
            ? trans.__('Loading…')
            : feed.runs.length === 0
              ? trans.__('No builds or deployments yet.')
              : trans.__('No %1 builds or deployments.', labels[filter].toLowerCase())}
        </p>
      ) : (
        <ul className="jp-OmniForge-list jp-OmniForge-runs">
          {runs.map(run => (
            <RunRow
              key={run.channel}
              run={run}
              now={now}
              staleAfter={staleAfter}
              room={roomsByName.get(run.channel)}
              feed={feed}
              commands={commands}
              trans={trans}
            />
          ))}
        </ul>
      )}
    </Section>
  );
}

/** The current time in seconds, ticking every second while `ticking`. */
function useClock(ticking: boolean): number {
  const [now, setNow] = React.useState(() => Date.now() / 1000);
  React.useEffect(() => {
    setNow(Date.now() / 1000);
    if (!ticking) {
      return;
    }
    const timer = window.setInterval(() => setNow(Date.now() / 1000), 1000);
    return () => window.clearInterval(timer);
  }, [ticking]);
  return now;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) {
    return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  }
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

function elapsedOf(run: IRun, now: number): number {
  if (run.finishedAt !== null) {
    return run.duration ?? run.finishedAt - run.startedAt;
  }
  return now - run.startedAt;
}

function formatTime(seconds: number): string {
  return new Date(seconds * 1000).toLocaleTimeString();
}

/** An error longer than this, or of several lines, shows a preview that expands. */
const ERROR_PREVIEW_CHARS = 120;

function RunRow(props: {
  run: IRun;
  now: number;
  staleAfter: number;
  room: IRoomInfo | undefined;
  feed: IEventFeed;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { run, now, staleAfter, room, feed, commands, trans } = props;
  const [expanded, setExpanded] = React.useState(false);
  const [fullError, setFullError] = React.useState(false);
  const percent = Math.round(run.percent);
  const stale = isStale(run, now, staleAfter);
  const kind = run.kind === 'build' ? trans.__('build') : trans.__('deployment');
  const what = `${kind} ${run.id}`;
  const states: Record<string, string> = {
    created: trans.__('created'),
    running: trans.__('running'),
    completed: trans.__('completed'),
    failed: trans.__('failed'),
    stale: trans.__('stale')
  };
  const logId = `jp-OmniForge-log-${run.channel}`;
  const toggleLabel = expanded
    ? trans.__('Hide log for %1', what)
    : trans.__('Show log for %1', what);
  const error = run.state === 'failed' ? (run.error ?? '') : null;
  const longError =
    error !== null && (error.length > ERROR_PREVIEW_CHARS || error.includes('\n'));
  // Buttons inside the header act on their own; a click anywhere else on it toggles the log.
  const own = (event: React.MouseEvent): void => event.stopPropagation();
  return (
    <li
      className="jp-OmniForge-run"
      data-channel={run.channel}
      data-state={run.state}
      data-stale={stale ? 'true' : 'false'}
    >
      <div className="jp-OmniForge-run-head" onClick={() => setExpanded(!expanded)}>
        <Button
          minimal
          className="jp-OmniForge-run-toggle"
          aria-expanded={expanded}
          aria-controls={logId}
          aria-label={toggleLabel}
          title={toggleLabel}
        >
          <LogCaret expanded={expanded} />
        </Button>
        <span className="jp-OmniForge-run-name" title={run.channel}>
          <span className="jp-OmniForge-run-kind">{kind}</span> {run.id}
        </span>
        <span onClick={own}>
          <ToolbarButtonComponent
            className="jp-OmniForge-run-dismiss"
            icon={closeIcon}
            tooltip={trans.__('Dismiss %1', what)}
            onClick={() => feed.dismiss(run.channel)}
          />
        </span>
      </div>
      <div className="jp-OmniForge-run-meta">
        <span className="jp-OmniForge-run-state" data-state={stale ? 'stale' : run.state}>
          {states[stale ? 'stale' : run.state]}
        </span>
        <span
          className="jp-OmniForge-run-elapsed"
          title={
            stale
              ? trans.__('No event for %1', formatDuration(now - run.lastTime))
              : undefined
          }
        >
          {stale
            ? trans.__('quiet %1', formatDuration(now - run.lastTime))
            : formatDuration(elapsedOf(run, now))}
        </span>
        {run.startedByName && (
          <span className="jp-OmniForge-run-by" data-username={run.startedBy}>
            {trans.__('by %1', run.startedByName)}
          </span>
        )}
        {room && room.users.length > 0 && (
          <span
            className="jp-OmniForge-avatars"
            aria-label={trans.__('Watching %1', run.channel)}
            role="group"
          >
            {room.users.map(user => (
              <Avatar key={user.username} user={user} />
            ))}
          </span>
        )}
        {room && <ShareButton room={run.channel} commands={commands} />}
      </div>
      <div
        className="jp-OmniForge-progress"
        role="progressbar"
        aria-label={trans.__('%1 progress', run.channel)}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
      >
        <div className="jp-OmniForge-progress-bar" style={{ width: `${percent}%` }} />
      </div>
      {error !== null ? (
        <div className="jp-OmniForge-run-failure">
          <pre
            className="jp-OmniForge-run-error"
            data-expanded={fullError || !longError ? 'true' : 'false'}
          >
            {error}
          </pre>
          {longError && (
            <Button
              minimal
              small
              className="jp-OmniForge-run-errorToggle"
              aria-expanded={fullError}
              aria-label={
                fullError
                  ? trans.__('Show less of the error of %1', what)
                  : trans.__('Show the full error of %1', what)
              }
              onClick={() => setFullError(!fullError)}
            >
              {fullError ? trans.__('Show less') : trans.__('Show the full error')}
            </Button>
          )}
        </div>
      ) : (
        <div className="jp-OmniForge-run-message" title={run.message}>
          {percent}% · {run.message}
        </div>
      )}
      <div id={logId} hidden={!expanded}>
        {expanded && (
          <ol className="jp-OmniForge-run-log">
            {run.log.map(entry => (
              <li key={entry.id} data-type={entry.type}>
                <time>{formatTime(entry.time)}</time>{' '}
                <span className="jp-OmniForge-run-logType">{entry.type}</span>
                {entry.percent !== null && <> {Math.round(entry.percent)}%</>}
                {entry.message && <> {entry.message}</>}
              </li>
            ))}
          </ol>
        )}
      </div>
    </li>
  );
}

function LogCaret(props: { expanded: boolean }): JSX.Element {
  const Caret = props.expanded ? caretDownIcon : caretRightIcon;
  return <Caret.react tag="span" className="jp-OmniForge-caret" />;
}

/** Unread mentions of this user in comments: each opens its thread; all can be marked read. */
function MentionList(props: { mentions: IMentions; trans: TranslationBundle }): JSX.Element {
  const { mentions, trans } = props;
  const tools = (
    <Button
      className="jp-mod-styled jp-OmniForge-mentionsRead"
      disabled={mentions.count === 0}
      onClick={() => void mentions.markRead('all')}
    >
      {trans.__('Mark all read')}
    </Button>
  );
  return (
    <Section name="mentions" title={trans.__('Mentions')} count={mentions.count} tools={tools}>
      {mentions.unread.length === 0 ? (
        <p className="jp-OmniForge-empty">{trans.__('No unread mentions.')}</p>
      ) : (
        <ul className="jp-OmniForge-list">
          {mentions.unread.map(n => (
            <li key={n.id} className="jp-OmniForge-mention" data-notification={n.id}>
              <Button
                minimal
                className="jp-OmniForge-link jp-OmniForge-mentionOpen"
                title={trans.__('Open the thread in %1', n.room)}
                onClick={() => void mentions.open(n)}
              >
                <span className="jp-OmniForge-mentionBy">
                  {trans.__('%1 in %2', n.by.name || n.by.username, n.room)}
                </span>
                <span className="jp-OmniForge-mentionExcerpt">{n.excerpt}</span>
              </Button>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}
