"""The catalog of silent failures: each reproduced by an experiment, all run in one go
(`invoke catalog`), and one matrix that says, per failure and arm, what noticed it and what
cured it."""
