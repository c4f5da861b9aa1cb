"""The HQViT frontend, the compilation pipeline and OpenQASM input and output."""
