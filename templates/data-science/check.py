# Imports the data-science stack and prints each package's version: the template's smoke test.
import matplotlib
import numpy
import openpyxl
import pandas
import scipy
import seaborn
import sklearn
import sklearn.linear_model

for module in (numpy, pandas, matplotlib, scipy, sklearn, seaborn, openpyxl):
    print(module.__name__, module.__version__)
frame = pandas.DataFrame({"x": numpy.arange(5), "y": numpy.arange(5) ** 2})
print("fit slope", round(float(sklearn.linear_model.LinearRegression().fit(frame[["x"]], frame["y"]).coef_[0]), 3))
