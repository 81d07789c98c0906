"""The performance bench (`make bench`): each figure measured side by side with its baseline in one run."""
