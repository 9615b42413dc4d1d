/**
 * Appends streamed pieces to one string and keeps it mostly flat as it grows.
 *
 * V8 keeps `text += piece` as a tree of pieces (a rope) until something reads the characters;
 * the first reader (the history write's `JSON.stringify`, after the last token) then walks every
 * node. For a 2,000-token answer that walk cost more than the serialising itself and landed in
 * the run's tail. Reading one character of the rope every so often flattens it in place while the
 * answer streams (the gaps grow with the text: the copying stays linear), so the tail meets a
 * flat string and at most the last eighth of the pieces.
 */
export class TextBuilder {
  text = "";
  private pieces = 0;
  private sinceFlat = 0;

  append(piece: string): void {
    this.text += piece;
    this.pieces++;
    // Every 64 pieces at first, then every eighth of the pieces so far: the copies add up to about
    // nine times the final text, and the tail meets at most an eighth of the pieces unflattened.
    if (++this.sinceFlat >= 64 && this.sinceFlat * 8 >= this.pieces) {
      this.sinceFlat = 0;
      this.text.charCodeAt(0);
    }
  }
}
