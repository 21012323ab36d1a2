/**
 * The undo stack of one container. Every host-side change registers its undo the moment it is
 * made; `unwind` runs the undos in reverse order, each at most once, and returns the failures
 * instead of throwing, so a cleanup failure travels beside the original error, never in its place.
 */
export class UndoStack {
  private readonly entries: { description: string; undo: () => unknown }[] = [];

  /** Registers the undo of a change that was just made. */
  defer(description: string, undo: () => unknown): void {
    this.entries.push({ description, undo });
  }

  get size(): number {
    return this.entries.length;
  }

  /** Descriptions of the pending undos, oldest first. */
  describe(): string[] {
    return this.entries.map((entry) => entry.description);
  }

  /** Runs every pending undo, newest first. Returns the errors, each prefixed with its description. */
  async unwind(): Promise<Error[]> {
    const errors: Error[] = [];
    for (let entry = this.entries.pop(); entry !== undefined; entry = this.entries.pop()) {
      try {
        await entry.undo();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        errors.push(new Error(`${entry.description}: ${message}`, { cause: error }));
      }
    }
    return errors;
  }
}
