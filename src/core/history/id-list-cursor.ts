import type { IdList } from "./posting-list.js";

/**
 * IdListCursor answers "does the list hold this id?" for ids asked in one
 * direction (ascending, or descending), as a query walking another list
 * asks them. It keeps its place and gallops from it (steps of 1, 2, 4, …,
 * then a binary search), so walking a list of n ids against one of m costs
 * about n·log(m/n) instead of a binary search of the whole list per id.
 */
export class IdListCursor {
  /** Ascending: the first index whose id >= the last id asked. Descending: the last index whose id <= it. -2: not placed yet. */
  private position = -2;

  constructor(
    private readonly list: IdList,
    private readonly ascending: boolean,
  ) {}

  /** True when the list holds `id`; each id asked must not go back against the direction. */
  contains(id: number): boolean {
    return this.ascending ? this.containsAscending(id) : this.containsDescending(id);
  }

  private containsAscending(id: number): boolean {
    const list = this.list;
    const size = list.size;
    if (this.position === -2) this.position = list.lowerBound(id);
    else if (this.position < size && list.at(this.position) < id) {
      // Gallop forward to a bound, then search between: the first index with an id >= id.
      let low = this.position;
      let step = 1;
      let high = low + step;
      while (high < size && list.at(high) < id) {
        low = high;
        step *= 2;
        high = low + step;
      }
      if (high > size) high = size;
      while (low + 1 < high) {
        const middle = (low + high) >>> 1;
        if (list.at(middle) < id) low = middle;
        else high = middle;
      }
      this.position = high;
    }
    return this.position < size && list.at(this.position) === id;
  }

  private containsDescending(id: number): boolean {
    const list = this.list;
    if (this.position === -2) this.position = list.lowerBound(id + 1) - 1;
    else if (this.position >= 0 && list.at(this.position) > id) {
      // Gallop backward to a bound, then search between: the last index with an id <= id.
      let high = this.position;
      let step = 1;
      let low = high - step;
      while (low >= 0 && list.at(low) > id) {
        high = low;
        step *= 2;
        low = high - step;
      }
      if (low < -1) low = -1;
      while (low + 1 < high) {
        const middle = (low + high) >> 1;
        if (list.at(middle) > id) high = middle;
        else low = middle;
      }
      this.position = low;
    }
    return this.position >= 0 && list.at(this.position) === id;
  }
}
