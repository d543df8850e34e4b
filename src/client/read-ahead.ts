/**
 * An async iterator that keeps pulling from its source while the caller is
 * busy, holding results up to a weight (at least one is always pulled): what a
 * subscription needs to notice a lost broker, and start reconnecting, while
 * its consumer still works on earlier events, without reading further ahead
 * than that bound. Results, the source's end and its error reach the caller
 * in the order the source gave them; the error once, then the end.
 */
export function readAhead<T>(source: AsyncIterator<T>, limit: number, weigh: (value: T) => number): AsyncIterator<T, undefined> {
  const results: IteratorResult<T, undefined>[] = [];
  let held = 0;
  let failure: { error: unknown } | undefined;
  let pulling = false;
  let ended = false;
  let waiter: { resolve: (result: IteratorResult<T, undefined>) => void; reject: (error: unknown) => void } | undefined;

  const take = (): IteratorResult<T, undefined> | undefined => {
    const result = results.shift();
    if (result !== undefined && !result.done) held -= weigh(result.value);
    return result;
  };

  const takeFailure = (): unknown => {
    const error = failure?.error;
    failure = undefined;
    return error;
  };

  const settle = () => {
    if (waiter === undefined) return;
    const { resolve, reject } = waiter;
    const result = take();
    if (result !== undefined) {
      waiter = undefined;
      resolve(result);
      pull();
    } else if (failure !== undefined) {
      waiter = undefined;
      reject(takeFailure());
    }
  };

  const pull = () => {
    if (pulling || ended || (results.length > 0 && held >= limit)) return;
    pulling = true;
    source.next().then(
      (result) => {
        pulling = false;
        if (result.done) {
          ended = true;
          results.push({ done: true, value: undefined });
        } else {
          held += weigh(result.value);
          results.push(result);
        }
        settle();
        pull();
      },
      (error: unknown) => {
        pulling = false;
        ended = true;
        failure = { error };
        settle();
      },
    );
  };

  pull();
  return {
    next: () => {
      if (waiter !== undefined) return Promise.reject(new Error("readAhead: next() called before the last call settled"));
      const result = take();
      if (result !== undefined) {
        pull();
        return Promise.resolve(result);
      }
      if (failure !== undefined) return Promise.reject(takeFailure());
      if (ended) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
        pull();
      });
    },
  };
}
