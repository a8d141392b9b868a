/**
 * The OmniForge sidebar: actions to open rooms, the open rooms and the people in them, and the
 * build/deployment feed. It draws the models; it holds no state of its own beyond what is
 * expanded.
 */
import { ReactWidget, shareIcon } from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import type { ISignal } from '@lumino/signaling';
import * as React from 'react';

import { colorOf, initialsOf, stateLabel } from './avatar';
import { isRoomName, isTextRoom } from './rooms';
import {
  CommandIDs,
  type ConnectionState,
  type IAwarenessUser,
  type ICollaborator,
  type IEventFeed,
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
}

/** Re-render whenever one of `signals` fires. */
function useSignals(...signals: (ISignal<unknown, unknown> | undefined)[]): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const slot = (): void => setTick(tick => tick + 1);
    const live = signals.filter((s): s is ISignal<unknown, unknown> => !!s);
    live.forEach(signal => signal.connect(slot));
    return () => live.forEach(signal => signal.disconnect(slot));
  }, signals);
}

function SidebarView(props: ISidebarProps): JSX.Element {
  const { server, presence, feed, commands } = props;
  useSignals(server.availabilityChanged, server.settingsChanged, presence?.changed);
  const availability = server.availability;
  const state: ConnectionState = presence?.state ?? feed?.state ?? 'connecting';
  return (
    <div className="jp-OmniForge-sidebar-body">
      <header className="jp-OmniForge-sidebar-header">
        <h2 className="jp-OmniForge-title">OmniForge</h2>
        {availability.status === 'ok' && <StatusPill state={state} />}
      </header>
      {availability.status === 'ok' ? (
        <>
          <RoomActions server={server} commands={commands} />
          {presence && server.settings.showPresence && (
            <>
              <RoomList presence={presence} commands={commands} />
              <PeopleList presence={presence} commands={commands} />
            </>
          )}
          {feed && <Feed feed={feed} />}
        </>
      ) : (
        <Unavailable server={server} />
      )}
    </div>
  );
}

function StatusPill(props: { state: ConnectionState }): JSX.Element {
  return (
    <span className="jp-OmniForge-status" data-state={props.state} role="status">
      {stateLabel(props.state)}
    </span>
  );
}

function Unavailable(props: { server: IOmniForgeServer }): JSX.Element {
  const availability = props.server.availability;
  if (availability.status === 'checking') {
    return <p className="jp-OmniForge-empty">Connecting to OmniForge…</p>;
  }
  if (availability.status === 'ok') {
    return <></>;
  }
  const titles = {
    missing: 'OmniForge server extension not found',
    forbidden: 'Permission denied',
    error: 'OmniForge is not reachable'
  };
  return (
    <div className="jp-OmniForge-message" data-kind={availability.status} role="alert">
      <strong className="jp-OmniForge-message-title">{titles[availability.status]}</strong>
      <p>{availability.message}</p>
      <button
        className="jp-mod-styled jp-mod-reject"
        onClick={() => void props.server.checkAvailability()}
      >
        Try again
      </button>
    </div>
  );
}

function RoomActions(props: {
  server: IOmniForgeServer;
  commands: CommandRegistry;
}): JSX.Element {
  const { server, commands } = props;
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
      <button
        className="jp-mod-styled jp-mod-accept jp-OmniForge-newIdea"
        onClick={() => void commands.execute(CommandIDs.newIdea)}
      >
        New idea room
      </button>
      <form className="jp-OmniForge-openRoom" onSubmit={open}>
        <input
          className="jp-OmniForge-openRoom-input"
          aria-label="Room to open"
          placeholder={server.settings.defaultRoom}
          value={name}
          onChange={event => setName(event.target.value)}
          aria-invalid={!valid}
        />
        <button className="jp-mod-styled" type="submit" disabled={!valid}>
          Open
        </button>
      </form>
      {!valid && name.trim() !== '' && (
        <p className="jp-OmniForge-hint">
          {isRoomName(room)
            ? 'Only idea, project and preview rooms have text to edit.'
            : 'A room is kind:id, e.g. idea:42 (letters, digits, . _ -).'}
        </p>
      )}
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
      style={{ backgroundColor: colorOf(user) }}
    >
      {user.avatar_url ? <img src={user.avatar_url} alt="" /> : initialsOf(user)}
    </span>
  );
}

function RoomLink(props: { room: string; commands: CommandRegistry }): JSX.Element {
  const { room, commands } = props;
  if (!isTextRoom(room)) {
    return <span className="jp-OmniForge-where">{room}</span>;
  }
  return (
    <button
      className="jp-OmniForge-link jp-OmniForge-where"
      title={`Open ${room}`}
      onClick={() => void commands.execute(CommandIDs.openRoom, { room })}
    >
      {room}
    </button>
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
  const label = commands.label(CommandIDs.shareRoom, args);
  return (
    <button
      className="jp-OmniForge-iconButton jp-OmniForge-shareRoom"
      title={label}
      aria-label={label}
      onClick={() => void commands.execute(CommandIDs.shareRoom, args)}
    >
      <shareIcon.react tag="span" />
    </button>
  );
}

function RoomList(props: { presence: IPresence; commands: CommandRegistry }): JSX.Element {
  useSignals(props.commands.commandChanged);
  const rooms: readonly IRoomInfo[] = props.presence.rooms;
  return (
    <section className="jp-OmniForge-section jp-OmniForge-rooms">
      <h3 className="jp-OmniForge-sectionTitle">Open rooms</h3>
      {rooms.length === 0 ? (
        <p className="jp-OmniForge-empty">No open rooms.</p>
      ) : (
        <ul className="jp-OmniForge-list">
          {rooms.map(room => (
            <li key={room.name} className="jp-OmniForge-room" data-room={room.name}>
              <RoomLink room={room.name} commands={props.commands} />
              <span className="jp-OmniForge-avatars">
                {room.users.map(user => (
                  <Avatar key={user.username} user={user} />
                ))}
              </span>
              <ShareButton room={room.name} commands={props.commands} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function PeopleList(props: { presence: IPresence; commands: CommandRegistry }): JSX.Element {
  const people: readonly ICollaborator[] = props.presence.collaborators;
  return (
    <section className="jp-OmniForge-section jp-OmniForge-people">
      <h3 className="jp-OmniForge-sectionTitle">Collaborators</h3>
      {people.length === 0 ? (
        <p className="jp-OmniForge-empty">Nobody else is here.</p>
      ) : (
        <ul className="jp-OmniForge-list">
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
                  {person.user.display_name || person.user.name}
                  {person.local && <span className="jp-OmniForge-you"> (you)</span>}
                </span>
                <span className="jp-OmniForge-rooms-of">
                  {person.rooms.length === 0 ? (
                    <span className="jp-OmniForge-where jp-OmniForge-idle">idle</span>
                  ) : (
                    person.rooms.map(room => (
                      <RoomLink key={room} room={room} commands={props.commands} />
                    ))
                  )}
                </span>
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Feed(props: { feed: IEventFeed }): JSX.Element {
  const { feed } = props;
  useSignals(feed.changed);
  const running = feed.runs.some(run => run.state === 'running' || run.state === 'created');
  const now = useClock(running);
  return (
    <section className="jp-OmniForge-section jp-OmniForge-feed">
      <h3 className="jp-OmniForge-sectionTitle">
        Builds &amp; deployments
        {feed.state !== 'connected' && <StatusPill state={feed.state} />}
      </h3>
      {feed.runs.length === 0 ? (
        <p className="jp-OmniForge-empty">
          {feed.loaded ? 'No builds or deployments yet.' : 'Loading…'}
        </p>
      ) : (
        <ul className="jp-OmniForge-list">
          {feed.runs.map(run => (
            <RunRow key={run.channel} run={run} now={now} />
          ))}
        </ul>
      )}
    </section>
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

function RunRow(props: { run: IRun; now: number }): JSX.Element {
  const { run, now } = props;
  const [expanded, setExpanded] = React.useState(false);
  const percent = Math.round(run.percent);
  return (
    <li className="jp-OmniForge-run" data-channel={run.channel} data-state={run.state}>
      <div className="jp-OmniForge-run-head">
        <button
          className="jp-OmniForge-run-toggle"
          aria-expanded={expanded}
          aria-label={expanded ? 'Hide log' : 'Show log'}
          onClick={() => setExpanded(!expanded)}
        >
          {expanded ? '▾' : '▸'}
        </button>
        <span className="jp-OmniForge-run-name" title={run.channel}>
          <span className="jp-OmniForge-run-kind">{run.kind}</span> {run.id}
        </span>
        <span className="jp-OmniForge-run-state" data-state={run.state}>
          {run.state}
        </span>
        <span className="jp-OmniForge-run-elapsed">{formatDuration(elapsedOf(run, now))}</span>
      </div>
      <div
        className="jp-OmniForge-progress"
        role="progressbar"
        aria-label={`${run.channel} progress`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
      >
        <div className="jp-OmniForge-progress-bar" style={{ width: `${percent}%` }} />
      </div>
      {run.state === 'failed' ? (
        <pre className="jp-OmniForge-run-error">{run.error}</pre>
      ) : (
        <div className="jp-OmniForge-run-message" title={run.message}>
          {percent}% · {run.message}
        </div>
      )}
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
    </li>
  );
}
