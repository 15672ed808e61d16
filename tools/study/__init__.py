"""The CPU learning studies (docs/learning.md): does pre-training with this project improve dense
features (frozen probe, and Semantic FPN fine-tuned at 100 % / 10 % labels in the ResNet-18
recipe), and does DeCon-ML differ from encoder-only SlotCon at the same budget?"""
