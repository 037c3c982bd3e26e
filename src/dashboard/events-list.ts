/** The last few hundred fleet events, newest first. */
import type { FleetEvent } from '../master/dashboard/frames.ts';
import { describeEvent, formatClock } from './format.ts';

export class EventsList {
  readonly #list: HTMLElement;
  readonly #note: HTMLElement;
  #shown = -1;

  constructor(list: HTMLElement, note: HTMLElement) {
    this.#list = list;
    this.#note = note;
  }

  update(events: FleetEvent[], skipped: number): void {
    const newest = events.at(-1)?.seq ?? 0;
    if (newest === this.#shown) return;
    this.#shown = newest;
    const items: HTMLElement[] = [];
    for (let i = events.length - 1; i >= 0; i--) {
      const event = events[i]!;
      const li = document.createElement('li');
      li.dataset.kind = event.kind;
      const time = document.createElement('time');
      time.textContent = formatClock(event.at);
      const kind = document.createElement('span');
      kind.className = 'event-kind';
      kind.textContent = event.kind.replace('_', ' ');
      const text = document.createElement('span');
      text.className = 'event-text';
      text.textContent = describeEvent(event);
      li.append(time, kind, text);
      items.push(li);
    }
    this.#list.replaceChildren(...items);
    this.#note.textContent =
      skipped > 0 ? `${skipped.toLocaleString('en')} more events came too fast to be listed.` : '';
  }
}
