/** An answer that is text as the CLI prints it (`format=text`), not JSON: the client only copies it out. */
export class TextAnswer {
  constructor(readonly text: string) {}
}
