"""The CPU learning study (docs/learning.md): does pre-training with this project improve frozen
dense features, and does DeCon-ML differ from encoder-only SlotCon at the same budget?"""
