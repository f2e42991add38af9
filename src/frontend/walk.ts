/**
 * Iterative tree walks for the frontend. Expressions nest as deep as the program is long (a
 * 5,000-layer `|>` chain is a call nested 5,000 deep; `x + x + ...` a left spine as long as the
 * sum), so recursing on them would overflow the stack; these walks keep their own stack.
 */

/**
 * The strict descendants of `root` that `children` reaches, in post-order (each node after its
 * children, siblings left to right): the order a recursive evaluation finishes them in.
 */
export function postOrder<T>(root: T, children: (node: T) => readonly T[]): T[] {
  const order: T[] = [];
  const stack: { node: T; kids: readonly T[]; next: number }[] = [{ node: root, kids: children(root), next: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.next < top.kids.length) {
      const kid = top.kids[top.next++]!;
      stack.push({ node: kid, kids: children(kid), next: 0 });
      continue;
    }
    stack.pop();
    if (stack.length) order.push(top.node);
  }
  return order;
}
