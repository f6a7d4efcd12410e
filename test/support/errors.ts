// The error a call throws (or undefined), for asserting on its coded fields.
export function errorOf(fn: () => unknown): any {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
