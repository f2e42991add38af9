// Generated from grammar/parser.ts by grammar/generate-docs.ts (chevrotain's generateCstDts): do not edit.
// Every child is as the grammar has it; error recovery may leave any of them out (see src/frontend/parse.ts).

import type { CstNode, ICstVisitor, IToken } from "chevrotain";

export interface ProgramCstNode extends CstNode {
  name: "program";
  children: ProgramCstChildren;
}

export type ProgramCstChildren = {
  importDecl?: ImportDeclCstNode[];
  blockDecl?: BlockDeclCstNode[];
  networkDecl?: NetworkDeclCstNode[];
  trainDecl?: TrainDeclCstNode[];
};

export interface ImportDeclCstNode extends CstNode {
  name: "importDecl";
  children: ImportDeclCstChildren;
}

export type ImportDeclCstChildren = {
  Import: IToken[];
  StringLiteral: IToken[];
  Semicolon?: IToken[];
};

export interface BlockDeclCstNode extends CstNode {
  name: "blockDecl";
  children: BlockDeclCstChildren;
}

export type BlockDeclCstChildren = {
  Block: IToken[];
  Identifier: IToken[];
  blockParams?: BlockParamsCstNode[];
  LCurly: IToken[];
  stmt?: StmtCstNode[];
  RCurly: IToken[];
};

export interface BlockParamsCstNode extends CstNode {
  name: "blockParams";
  children: BlockParamsCstChildren;
}

export type BlockParamsCstChildren = {
  LParen: IToken[];
  blockParam?: (BlockParamCstNode)[];
  Comma?: IToken[];
  RParen: IToken[];
};

export interface BlockParamCstNode extends CstNode {
  name: "blockParam";
  children: BlockParamCstChildren;
}

export type BlockParamCstChildren = {
  Identifier: (IToken)[];
  Colon: IToken[];
  Equals?: IToken[];
  expr?: ExprCstNode[];
};

export interface NetworkDeclCstNode extends CstNode {
  name: "networkDecl";
  children: NetworkDeclCstChildren;
}

export type NetworkDeclCstChildren = {
  Network: IToken[];
  Identifier: IToken[];
  LCurly: IToken[];
  stmt?: StmtCstNode[];
  RCurly: IToken[];
};

export interface StmtCstNode extends CstNode {
  name: "stmt";
  children: StmtCstChildren;
}

export type StmtCstChildren = {
  inputDecl?: InputDeclCstNode[];
  paramDecl?: ParamDeclCstNode[];
  outputDecl?: OutputDeclCstNode[];
  letStmt?: LetStmtCstNode[];
  Semicolon?: IToken[];
};

export interface InputDeclCstNode extends CstNode {
  name: "inputDecl";
  children: InputDeclCstChildren;
}

export type InputDeclCstChildren = {
  Input: IToken[];
  Identifier: IToken[];
  Colon: IToken[];
  typeExpr: TypeExprCstNode[];
};

export interface ParamDeclCstNode extends CstNode {
  name: "paramDecl";
  children: ParamDeclCstChildren;
}

export type ParamDeclCstChildren = {
  Param: IToken[];
  Identifier: IToken[];
  Colon: IToken[];
  typeExpr: TypeExprCstNode[];
  Equals?: IToken[];
  expr?: ExprCstNode[];
};

export interface OutputDeclCstNode extends CstNode {
  name: "outputDecl";
  children: OutputDeclCstChildren;
}

export type OutputDeclCstChildren = {
  Output: IToken[];
  Identifier: IToken[];
  Colon?: IToken[];
  typeExpr?: TypeExprCstNode[];
  Equals?: IToken[];
  expr?: ExprCstNode[];
};

export interface LetStmtCstNode extends CstNode {
  name: "letStmt";
  children: LetStmtCstChildren;
}

export type LetStmtCstChildren = {
  Identifier: (IToken)[];
  Comma?: IToken[];
  Equals: IToken[];
  expr: ExprCstNode[];
};

export interface TypeExprCstNode extends CstNode {
  name: "typeExpr";
  children: TypeExprCstChildren;
}

export type TypeExprCstChildren = {
  Identifier: IToken[];
  LBracket: IToken[];
  dim?: (DimCstNode)[];
  Comma?: IToken[];
  RBracket: IToken[];
};

export interface DimCstNode extends CstNode {
  name: "dim";
  children: DimCstChildren;
}

export type DimCstChildren = {
  additive: AdditiveCstNode[];
};

export interface ExprCstNode extends CstNode {
  name: "expr";
  children: ExprCstChildren;
}

export type ExprCstChildren = {
  additive: AdditiveCstNode[];
  Pipe?: IToken[];
  callOrName?: CallOrNameCstNode[];
};

export interface AdditiveCstNode extends CstNode {
  name: "additive";
  children: AdditiveCstChildren;
}

export type AdditiveCstChildren = {
  multiplicative: (MultiplicativeCstNode)[];
  Plus?: IToken[];
  Minus?: IToken[];
};

export interface MultiplicativeCstNode extends CstNode {
  name: "multiplicative";
  children: MultiplicativeCstChildren;
}

export type MultiplicativeCstChildren = {
  unary: (UnaryCstNode)[];
  Star?: IToken[];
  Slash?: IToken[];
  At?: IToken[];
};

export interface UnaryCstNode extends CstNode {
  name: "unary";
  children: UnaryCstChildren;
}

export type UnaryCstChildren = {
  Minus?: IToken[];
  unary?: UnaryCstNode[];
  primary?: PrimaryCstNode[];
};

export interface PrimaryCstNode extends CstNode {
  name: "primary";
  children: PrimaryCstChildren;
}

export type PrimaryCstChildren = {
  NumberLiteral?: IToken[];
  callOrName?: CallOrNameCstNode[];
  LParen?: IToken[];
  expr?: ExprCstNode[];
  RParen?: IToken[];
  arrayLit?: ArrayLitCstNode[];
};

export interface CallOrNameCstNode extends CstNode {
  name: "callOrName";
  children: CallOrNameCstChildren;
}

export type CallOrNameCstChildren = {
  Identifier: (IToken)[];
  Colon?: IToken[];
  LParen?: IToken[];
  args?: ArgsCstNode[];
  RParen?: IToken[];
};

export interface ArgsCstNode extends CstNode {
  name: "args";
  children: ArgsCstChildren;
}

export type ArgsCstChildren = {
  arg: (ArgCstNode)[];
  Comma?: IToken[];
};

export interface ArgCstNode extends CstNode {
  name: "arg";
  children: ArgCstChildren;
}

export type ArgCstChildren = {
  Identifier?: IToken[];
  Equals?: IToken[];
  expr?: (ExprCstNode)[];
};

export interface ArrayLitCstNode extends CstNode {
  name: "arrayLit";
  children: ArrayLitCstChildren;
}

export type ArrayLitCstChildren = {
  LBracket: IToken[];
  expr?: (ExprCstNode)[];
  Comma?: (IToken)[];
  RBracket: IToken[];
};

export interface TrainDeclCstNode extends CstNode {
  name: "trainDecl";
  children: TrainDeclCstChildren;
}

export type TrainDeclCstChildren = {
  Train: IToken[];
  LCurly: IToken[];
  trainSetting?: TrainSettingCstNode[];
  dataBlock?: DataBlockCstNode[];
  RCurly: IToken[];
};

export interface TrainSettingCstNode extends CstNode {
  name: "trainSetting";
  children: TrainSettingCstChildren;
}

export type TrainSettingCstChildren = {
  Identifier: IToken[];
  Equals: IToken[];
  expr: ExprCstNode[];
  Semicolon?: IToken[];
};

export interface DataBlockCstNode extends CstNode {
  name: "dataBlock";
  children: DataBlockCstChildren;
}

export type DataBlockCstChildren = {
  Data: IToken[];
  LCurly?: IToken[];
  dataEntry?: DataEntryCstNode[];
  RCurly?: IToken[];
  Equals?: IToken[];
  expr?: ExprCstNode[];
  Semicolon?: IToken[];
};

export interface DataEntryCstNode extends CstNode {
  name: "dataEntry";
  children: DataEntryCstChildren;
}

export type DataEntryCstChildren = {
  Identifier: IToken[];
  Equals: IToken[];
  NumberArray?: IToken[];
  expr?: ExprCstNode[];
  Semicolon?: IToken[];
};
